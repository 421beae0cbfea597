/// Hash types of files and certificates (`dxltieclient.constants.HashType`).
public enum HashType: String, Sendable, CaseIterable {
    case md5, sha1, sha256

    /// The digest length in bytes.
    public var byteCount: Int {
        switch self {
        case .md5: return 16
        case .sha1: return 20
        case .sha256: return 32
        }
    }
}

/// A named integer constant: the shape of every `dxltieclient` constants class.
public protocol NamedConstant: RawRepresentable, CaseIterable, Sendable, Hashable where RawValue: FixedWidthInteger {
    /// The name as `dxltieclient` spells it (`KNOWN_MALICIOUS`).
    var name: String { get }
}

extension NamedConstant {
    /// The constant called `name` (case-insensitive, `-` and spaces read as `_`).
    public init?(name: String) {
        for candidate in Self.allCases where candidate.name == name {
            self = candidate
            return
        }
        let wanted = String(String.UnicodeScalarView(name.uppercased().unicodeScalars.map { $0 == "-" || $0 == " " ? "_" : $0 }))
        guard let match = Self.allCases.first(where: { $0.name == wanted }) else { return nil }
        self = match
    }

    /// All names, in declaration order.
    public static var names: [String] { allCases.map(\.name) }
}

/// File reputation providers (`FileProvider`).
public enum FileProvider: Int, NamedConstant {
    case gti = 1, enterprise = 3, atd = 5, mwg = 7, external = 15
    public var name: String {
        switch self {
        case .gti: return "GTI"
        case .enterprise: return "ENTERPRISE"
        case .atd: return "ATD"
        case .mwg: return "MWG"
        case .external: return "EXTERNAL"
        }
    }
}

/// Certificate reputation providers (`CertProvider`).
public enum CertProvider: Int, NamedConstant {
    case gti = 2, enterprise = 4
    public var name: String { self == .gti ? "GTI" : "ENTERPRISE" }
}

/// Trust levels (`TrustLevel`).
public enum TrustLevel: Int, NamedConstant {
    case notSet = 0
    case knownMalicious = 1
    case mostLikelyMalicious = 15
    case mightBeMalicious = 30
    case unknown = 50
    case mightBeTrusted = 70
    case mostLikelyTrusted = 85
    case knownTrusted = 99
    case knownTrustedInstaller = 100

    public var name: String {
        switch self {
        case .notSet: return "NOT_SET"
        case .knownMalicious: return "KNOWN_MALICIOUS"
        case .mostLikelyMalicious: return "MOST_LIKELY_MALICIOUS"
        case .mightBeMalicious: return "MIGHT_BE_MALICIOUS"
        case .unknown: return "UNKNOWN"
        case .mightBeTrusted: return "MIGHT_BE_TRUSTED"
        case .mostLikelyTrusted: return "MOST_LIKELY_TRUSTED"
        case .knownTrusted: return "KNOWN_TRUSTED"
        case .knownTrustedInstaller: return "KNOWN_TRUSTED_INSTALLER"
        }
    }
}

/// ATD trust levels (`AtdTrustLevel`), used by the ATD score attributes.
public enum AtdTrustLevel: Int, NamedConstant {
    case notSet = -2, knownTrusted = -1, mostLikelyTrusted = 0, mightBeTrusted = 1, unknown = 2
    case mightBeMalicious = 3, mostLikelyMalicious = 4, knownMalicious = 5

    public var name: String {
        switch self {
        case .notSet: return "NOT_SET"
        case .knownTrusted: return "KNOWN_TRUSTED"
        case .mostLikelyTrusted: return "MOST_LIKELY_TRUSTED"
        case .mightBeTrusted: return "MIGHT_BE_TRUSTED"
        case .unknown: return "UNKNOWN"
        case .mightBeMalicious: return "MIGHT_BE_MALICIOUS"
        case .mostLikelyMalicious: return "MOST_LIKELY_MALICIOUS"
        case .knownMalicious: return "KNOWN_MALICIOUS"
        }
    }
}

/// File types (`FileType`); 64-bit because CLASS and JAR do not fit in 32 bits.
public enum FileType: Int64, NamedConstant {
    case none = 0, com = 1, exe = 2, drv = 4, boot = 8, pe = 16, peexe = 18, vxd = 64, dllnonpe = 128, dll = 144
    case win = 272, mzstub = 512, nlm = 1024, elf = 2048, js = 4096, vbs = 8192, script = 12288, ole = 16384
    case pic = 65536, text = 131_072, bat = 143_360, html = 262_144, htmltext = 393_216, hta = 524_288
    case rtf = 1_048_576, pdf = 2_097_152, mmedia = 4_194_304, url = 8_388_608, sys = 16_777_232, zip = 33_587_200
    case cab = 67_141_632, rarnoarc = 134_217_728, rar = 134_250_496, ooxml = 167_772_160, ooxmlpk = 301_989_888
    case macho = 536_870_912, apk = 1_073_741_824, `class` = 2_147_483_648, jar = 4_328_554_496

    public var name: String { String(describing: self).uppercased() }
}

/// Attribute ids of reputations (their keys in `attributes`), as `dxltieclient` names them.
public enum TieAttribute {
    /// Enterprise: the TIE server version (see `TieHelpers.versionTuple`).
    public static let serverVersion = "2139285"

    /// File enterprise attributes (`FileEnterpriseAttrib`).
    public enum FileEnterprise {
        public static let firstContact = "2102165"
        public static let prevalence = "2101652"
        public static let enterpriseSize = "2111893"
        public static let minLocalRep = "2112148"
        public static let maxLocalRep = "2112404"
        public static let avgLocalRep = "2112660"
        public static let parentMinLocalRep = "2112916"
        public static let parentMaxLocalRep = "2113172"
        public static let parentAvgLocalRep = "2113428"
        public static let detectionCount = "2113685"
        public static let lastDetectionTime = "2113942"
        public static let isPrevalent = "2123156"
        public static let fileNameCount = "2114965"
        public static let childFileReps = "2138520"
        public static let parentFileReps = "2138264"
        public static let serverVersion = TieAttribute.serverVersion
    }

    /// Certificate enterprise attributes (`CertEnterpriseAttrib`).
    public enum CertEnterprise {
        public static let firstContact = "2109589"
        public static let prevalence = "2109333"
        public static let hasFileOverrides = "2122901"
        public static let isPrevalent = "2125972"
        public static let serverVersion = TieAttribute.serverVersion
    }

    /// GTI attributes (`GtiAttrib`, `FileGtiAttrib`, `CertGtiAttrib`).
    public enum GTI {
        public static let originalResponse = "2120340"
        public static let filePrevalence = "2102421"
        public static let fileFirstContact = "2101908"
        public static let certPrevalence = "2108821"
        public static let certFirstContact = "2109077"
        public static let certRevoked = "2117524"
    }

    /// ATD attributes (`AtdAttrib`); the scores are `AtdTrustLevel` values.
    public enum ATD {
        public static let gamScore = "4194962"
        public static let avEngineScore = "4195218"
        public static let sandboxScore = "4195474"
        public static let verdict = "4195730"
        public static let behaviors = "4197784"
    }

    /// Every named attribute, by a readable name usable in scenario files.
    public static let byName: [String: String] = [
        "SERVER_VERSION": serverVersion,
        "FIRST_CONTACT": FileEnterprise.firstContact, "PREVALENCE": FileEnterprise.prevalence,
        "ENTERPRISE_SIZE": FileEnterprise.enterpriseSize, "MIN_LOCAL_REP": FileEnterprise.minLocalRep,
        "MAX_LOCAL_REP": FileEnterprise.maxLocalRep, "AVG_LOCAL_REP": FileEnterprise.avgLocalRep,
        "PARENT_MIN_LOCAL_REP": FileEnterprise.parentMinLocalRep, "PARENT_MAX_LOCAL_REP": FileEnterprise.parentMaxLocalRep,
        "PARENT_AVG_LOCAL_REP": FileEnterprise.parentAvgLocalRep, "DETECTION_COUNT": FileEnterprise.detectionCount,
        "LAST_DETECTION_TIME": FileEnterprise.lastDetectionTime, "IS_PREVALENT": FileEnterprise.isPrevalent,
        "FILE_NAME_COUNT": FileEnterprise.fileNameCount, "CHILD_FILE_REPS": FileEnterprise.childFileReps,
        "PARENT_FILE_REPS": FileEnterprise.parentFileReps,
        "CERT_FIRST_CONTACT": CertEnterprise.firstContact, "CERT_PREVALENCE": CertEnterprise.prevalence,
        "HAS_FILE_OVERRIDES": CertEnterprise.hasFileOverrides, "CERT_IS_PREVALENT": CertEnterprise.isPrevalent,
        "ORIGINAL_RESPONSE": GTI.originalResponse, "GTI_PREVALENCE": GTI.filePrevalence,
        "GTI_FIRST_CONTACT": GTI.fileFirstContact, "GTI_CERT_PREVALENCE": GTI.certPrevalence,
        "GTI_CERT_FIRST_CONTACT": GTI.certFirstContact, "REVOKED": GTI.certRevoked,
        "GAM_SCORE": ATD.gamScore, "AV_ENGINE_SCORE": ATD.avEngineScore, "SANDBOX_SCORE": ATD.sandboxScore,
        "VERDICT": ATD.verdict, "BEHAVIORS": ATD.behaviors,
    ]
}
