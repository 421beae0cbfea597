extension Duration {
    /// The duration in seconds, as a floating-point number (for reports and the journal's offsets).
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
