package io.roster.consul;

import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * What real agents answer about a service or check they do not know (Consul 1.10 and 1.11+, with and without
 * ACLs; checked against Consul's source, agent/acl.go and agent/agent.go), and that the registry takes each answer
 * for the fact it is, whatever its status code.
 */
class ConsulAgentAnswersTest {
    private static final String TOKEN = "write-secret-5e6f7a8b";

    @RegisterExtension
    final OpenedRegistries opened = new OpenedRegistries();

    private static ConsulStandIn standIn(ConsulStandIn.Dialect dialect, boolean acl) {
        ConsulStandIn.Builder b = ConsulStandIn.builder().dialect(dialect);
        if (acl) {
            b.acl(Set.of(TOKEN), Set.of());
        }
        return b.start();
    }

    private ConsulRegistry open(ConsulStandIn consul, boolean acl) {
        ConsulRegistry.Builder b = ConsulFixture.registry(consul.address());
        if (acl) {
            b.token(TOKEN);
        }
        return opened.track(b.build());
    }

    private static final String UNKNOWN_SERVICE_ID = "Unknown service ID \"ghost\". Ensure that the service ID is"
            + " passed, not the service name.";
    private static final String UNKNOWN_CHECK_ID = "Unknown check ID \"service:ghost\". Ensure that the check ID is"
            + " passed, not the check name.";

    @ParameterizedTest(name = "{0}, acl={1}")
    @CsvSource(delimiter = '|', value = {
            "V1_10   | true  | 500 | Unknown service \"ghost\" | 500 | Unknown check \"service:ghost\"",
            "V1_10   | false | 200 |                   | 500 | CheckID \"service:ghost\" does not have associated TTL",
            "CURRENT | true  | 404 | ID                | 404 | ID",
            "CURRENT | false | 404 | ID                | 404 | ID"})
    void theStandInAnswersAnUnknownServiceOrCheckAsThatConsulDoes(ConsulStandIn.Dialect dialect, boolean acl,
                                                                 int deregisterStatus, String deregisterText,
                                                                 int updateStatus, String updateText)
            throws Exception {
        try (ConsulStandIn consul = standIn(dialect, acl)) {
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> deregister = http.send(put(consul, "/v1/agent/service/deregister/ghost", ""),
                    HttpResponse.BodyHandlers.ofString());
            HttpResponse<String> update = http.send(put(consul, "/v1/agent/check/update/service:ghost",
                    "{\"Status\":\"passing\"}"), HttpResponse.BodyHandlers.ofString());

            assertThat(deregister.statusCode()).isEqualTo(deregisterStatus);
            assertThat(deregister.body()).isEqualTo(deregisterText == null ? ""
                    : deregisterText.equals("ID") ? UNKNOWN_SERVICE_ID : deregisterText);
            assertThat(update.statusCode()).isEqualTo(updateStatus);
            assertThat(update.body()).isEqualTo(updateText.equals("ID") ? UNKNOWN_CHECK_ID : updateText);
        }
    }

    @ParameterizedTest(name = "{0}, acl={1}")
    @CsvSource({"V1_10, true", "V1_10, false", "CURRENT, true", "CURRENT, false"})
    void deregisteringAnInstanceTheAgentNoLongerKnowsIsNoError(ConsulStandIn.Dialect dialect, boolean acl) {
        try (ConsulStandIn consul = standIn(dialect, acl)) {
            ConsulRegistry registry = open(consul, acl);
            ServiceInstance instance = TestInstances.of(TestInstances.serviceName("lost"), "lost-1");
            registry.register(instance);
            consul.forget(instance.id()); // a restarted dev agent, an operator...

            registry.deregister(instance); // 500 "Unknown service" on Consul 1.10 with ACLs: a fact, not a failure

            assertThat(consul.hasService(instance.id())).isFalse();
            registry.close();
        }
    }

    @ParameterizedTest(name = "{0}, acl={1}")
    @CsvSource({"V1_10, true", "V1_10, false", "CURRENT, true", "CURRENT, false"})
    void aHeartbeatAnsweredWithUnknownCheckRegistersTheInstanceAgain(ConsulStandIn.Dialect dialect, boolean acl) {
        try (ConsulStandIn consul = standIn(dialect, acl)) {
            ConsulRegistry registry = open(consul, acl);
            ServiceInstance instance = TestInstances.of(TestInstances.serviceName("forgot"), "forgot-1");
            registry.register(instance);

            consul.forget(instance.id());

            await().atMost(Duration.ofSeconds(10)) // the next heartbeat, then one registration
                    .until(() -> "passing".equals(consul.checkStatus("service:forgot-1")));
            registry.close();
        }
    }

    @Test
    void servicesListsEveryRegisteredServiceButConsulItself() {
        try (ConsulStandIn consul = standIn(ConsulStandIn.Dialect.CURRENT, false)) {
            Registry registry = open(consul, false);
            String one = TestInstances.serviceName("listed");
            registry.register(TestInstances.of(one, "l-1"));

            assertThat(registry.services()).containsExactly(one);
            registry.deregister(TestInstances.of(one, "l-1"));
            assertThat(registry.services()).isEmpty();
        }
    }

    private static HttpRequest put(ConsulStandIn consul, String path, String body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://" + consul.address() + path))
                .timeout(Duration.ofSeconds(5)).PUT(HttpRequest.BodyPublishers.ofString(body));
        return b.header("X-Consul-Token", TOKEN).build();
    }
}
