import Yams

/// A YAML node as the scenario walker sees it: a scalar, a list or a mapping, with the line and column
/// (1-based; columns in characters, as libyaml counts them) where it starts.
///
/// Two readers build it: `QuickYAMLReader` for the plain block-and-flow YAML that scenario files are
/// made of, and Yams (libyaml) for everything else, copied by `init(yams:)`. Both give the same tree
/// for the same text; `YAMLReaderTests` and `tiesim-fuzz` check that.
package struct YAMLNode: Equatable, Sendable {
    package enum Content: Equatable, Sendable {
        /// `plain` is false for quoted and block scalars: their text is never read as a number or null.
        case scalar(String, plain: Bool)
        case sequence([YAMLNode])
        case mapping([Pair])
    }

    package struct Pair: Equatable, Sendable {
        package var key: YAMLNode
        package var value: YAMLNode
    }

    package var content: Content
    package var line: Int
    package var column: Int

    /// The text of a scalar, nil for a list or a mapping.
    package var string: String? {
        if case .scalar(let text, _) = content { return text }
        return nil
    }
}

/// A tree that breaks the loader's limits (`ScenarioLoader.maxNodes`, `ScenarioLoader.maxDepth`),
/// found while it is built, before it can take the time or memory an alias bomb asks for.
package struct YAMLTreeLimit: Error {
    package enum Kind: Sendable { case nodes, depth }
    package var kind: Kind
    package var line: Int
    package var column: Int
}

extension YAMLNode {
    /// Reads `text`: quickly when it is the plain YAML `QuickYAMLReader` knows, through Yams otherwise.
    /// Returns nil for an empty document.
    package static func read(_ text: String) throws -> YAMLNode? {
        if let node = QuickYAMLReader.read(text) { return node }
        return try readWithYams(text)
    }

    /// Reads `text` through Yams (libyaml), whose errors locate and word every YAML mistake.
    package static func readWithYams(_ text: String) throws -> YAMLNode? {
        // The basic resolver tags every scalar as a string: the walker reads values itself.
        guard let root = try Yams.compose(yaml: text, .basic) else { return nil }
        var budget = ScenarioLoader.maxNodes
        return try YAMLNode(yams: root, budget: &budget, depth: 0)
    }

    /// Copies Yams' tree. Yams shares an anchored node among its aliases; the copy repeats it each time
    /// it is used, so it stops once `budget` nodes are spent or nesting passes `ScenarioLoader.maxDepth`.
    package init(yams node: Node, budget: inout Int, depth: Int) throws(YAMLTreeLimit) {
        let line = node.mark?.line ?? 1, column = node.mark?.column ?? 1
        budget -= 1
        if budget < 0 { throw YAMLTreeLimit(kind: .nodes, line: line, column: column) }
        if depth > ScenarioLoader.maxDepth { throw YAMLTreeLimit(kind: .depth, line: line, column: column) }
        switch node {
        case .scalar(let scalar):
            content = .scalar(scalar.string, plain: scalar.style == .plain)
        case .sequence(let sequence):
            var items: [YAMLNode] = []
            items.reserveCapacity(sequence.count)
            for item in sequence { items.append(try YAMLNode(yams: item, budget: &budget, depth: depth + 1)) }
            content = .sequence(items)
        case .mapping(let mapping):
            var pairs: [Pair] = []
            pairs.reserveCapacity(mapping.count)
            for (key, value) in mapping {
                pairs.append(Pair(key: try YAMLNode(yams: key, budget: &budget, depth: depth + 1),
                                  value: try YAMLNode(yams: value, budget: &budget, depth: depth + 1)))
            }
            content = .mapping(pairs)
        case .alias(let alias):
            // Yams resolves aliases while composing; an unresolved one reads as its name.
            content = .scalar("*\(alias.anchor)", plain: false)
        }
        self.line = line
        self.column = column
    }
}
