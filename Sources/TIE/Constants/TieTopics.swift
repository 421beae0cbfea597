/// The DXL topics of TIE, as `dxltieclient` 0.3.0 names them.
public enum TieTopic {
    public static let getFileReputation = "/mcafee/service/tie/file/reputation"
    public static let setFileReputation = "/mcafee/service/tie/file/reputation/set"
    public static let getCertificateReputation = "/mcafee/service/tie/cert/reputation"
    public static let setCertificateReputation = "/mcafee/service/tie/cert/reputation/set"
    public static let getFileFirstReferences = "/mcafee/service/tie/file/agents"
    public static let getCertificateFirstReferences = "/mcafee/service/tie/cert/agents"
    public static let fileReputationChange = "/mcafee/event/tie/file/repchange/broadcast"
    public static let certificateReputationChange = "/mcafee/event/tie/cert/repchange/broadcast"
    public static let fileDetection = "/mcafee/event/tie/file/detection"
    public static let fileFirstInstance = "/mcafee/event/tie/file/firstinstance"
    public static let filePrevalenceChange = "/mcafee/event/tie/file/prevalence"
    public static let externalFileReport = "/mcafee/event/external/file/report"

    /// The six request topics the TIE server answers.
    public static let requestTopics = [
        getFileReputation, setFileReputation, getCertificateReputation, setCertificateReputation,
        getFileFirstReferences, getCertificateFirstReferences,
    ]
    /// The event topics of TIE.
    public static let eventTopics = [
        fileReputationChange, certificateReputationChange, fileDetection, fileFirstInstance,
        filePrevalenceChange, externalFileReport,
    ]
}
