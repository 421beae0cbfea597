import DXL
import Logging
import Testing
@testable import TIESimulator

@Suite("The fake TIE's request queue")
struct FairRequestQueueTests {
    @Test("a requester is known by the client id its broker stamped, not by its reply-to topic (which it can vary)")
    func requesterIdentity() {
        var request = DXLMessage.request(topic: "/t", payload: "{}")
        request.replyToTopic = "/mcafee/client/one"
        #expect(FairRequestQueue.requester(of: request) == "/mcafee/client/one")
        request.sourceClientId = "client-a"
        #expect(FairRequestQueue.requester(of: request) == "client-a")
        request.replyToTopic = "/mcafee/client/another"
        #expect(FairRequestQueue.requester(of: request) == "client-a")
    }

    @Test("over its rate a requester is shed, whatever reply-to topics it uses; another requester is not")
    func rateByIdentity() {
        let queue = FairRequestQueue(perRequesterLimit: 1_000, perRequesterRate: 10, logger: Logger(label: "test"))
        queue.start { _ in }
        defer { queue.close() }
        var shed = 0
        for index in 0..<100 {
            var request = DXLMessage.request(topic: "/t", payload: "{}")
            request.sourceClientId = "flooder"
            request.replyToTopic = "/mcafee/client/\(index)"
            if queue.submit(request) == .shed { shed += 1 }
        }
        #expect(shed >= 80)
        var other = DXLMessage.request(topic: "/t", payload: "{}")
        other.sourceClientId = "someone-else"
        #expect(queue.submit(other) != .shed)
    }
}
