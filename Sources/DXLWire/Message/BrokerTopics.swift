/// The broker's service-registry topics.
public enum ServiceRegistryTopic {
    public static let register = "/mcafee/service/dxl/svcregistry/register"
    public static let unregister = "/mcafee/service/dxl/svcregistry/unregister"
    public static let query = "/mcafee/service/dxl/svcregistry/query"
    public static let registerEvent = "/mcafee/event/dxl/svcregistry/register"
    public static let unregisterEvent = "/mcafee/event/dxl/svcregistry/unregister"
}

/// The DXL broker's other services and events.
public enum BrokerServiceTopic {
    public static let brokerQuery = "/mcafee/service/dxl/brokerregistry/query"
    public static let topicQuery = "/mcafee/service/dxl/brokerregistry/topicquery"
    public static let subs = "/mcafee/service/dxl/broker/subs"
    public static let health = "/mcafee/service/dxl/broker/health"
    public static let clientQuery = "/mcafee/service/dxl/clientregistry/query"
    public static let connectEvent = "/mcafee/event/dxl/clientregistry/connect"
    public static let disconnectEvent = "/mcafee/event/dxl/clientregistry/disconnect"
    /// What every broker service's topic starts with.
    public static let prefix = "/mcafee/service/dxl/"
}
