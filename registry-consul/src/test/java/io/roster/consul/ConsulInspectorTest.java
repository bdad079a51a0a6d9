package io.roster.consul;

import com.sun.net.httpserver.HttpServer;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryUnavailableException;
import io.roster.spi.Inspection;
import io.roster.spi.RegistryUri;
import io.roster.testkit.FreePorts;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link ConsulInspector} on the answers Consul's HTTP API documents for {@code /v1/catalog/services} and
 * {@code /v1/health/service/<name>}, served by a JDK HTTP server that checks the ACL token.
 */
class ConsulInspectorTest {
    private static final String TOKEN = "s3cret-token";
    private final Map<String, String> answers = new ConcurrentHashMap<>();
    private HttpServer agent;

    @BeforeEach
    void startAgent() throws IOException {
        agent = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        agent.createContext("/v1/", exchange -> {
            String path = exchange.getRequestURI().getRawPath();
            String body = answers.get(path);
            int status = !TOKEN.equals(exchange.getRequestHeaders().getFirst("X-Consul-Token")) ? 403
                    : body == null ? 404 : 200;
            byte[] bytes = (status == 403 ? "ACL not found" : body == null ? "" : body)
                    .getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        });
        agent.start();
    }

    @AfterEach
    void stopAgent() {
        agent.stop(0);
    }

    private String uri(String options) {
        return "consul://127.0.0.1:" + agent.getAddress().getPort() + options;
    }

    private Inspection inspect(String options, String service) {
        try (Registry registry = Registries.open(uri(options))) {
            return new ConsulInspector().inspect(registry, RegistryUri.parse(URI.create(uri(options))), service);
        }
    }

    /** A health entry as Consul returns it for a Kratos (or Roster) registration. */
    private static String entry(String node, String id, String name, String taggedAddresses, int port,
                                String ttlStatus) {
        return "{\"Node\":{\"Node\":\"" + node + "\",\"Address\":\"10.0.0.100\"},"
                + "\"Service\":{\"ID\":\"" + id + "\",\"Service\":\"" + name + "\",\"Tags\":[\"version=v1\"],"
                + "\"Address\":\"10.0.0.1\",\"Port\":" + port + ",\"Meta\":{\"zone\":\"a\"},"
                + "\"TaggedAddresses\":{" + taggedAddresses + "}},"
                + "\"Checks\":[{\"Node\":\"" + node + "\",\"CheckID\":\"serfHealth\",\"Name\":\"Serf Health Status\","
                + "\"Status\":\"passing\",\"Output\":\"Agent alive and reachable\"},"
                + "{\"Node\":\"" + node + "\",\"CheckID\":\"service:" + id + "\",\"Name\":\"Service '" + name
                + "' check\",\"Status\":\"" + ttlStatus + "\",\"Output\":\"TTL expired\"}]}";
    }

    private static String grpc(String address) {
        return "\"grpc\":{\"Address\":\"" + address + "\",\"Port\":9000},"
                + "\"lan_ipv4\":{\"Address\":\"10.0.0.1\",\"Port\":9000}";
    }

    @Test
    void aKratosCatalogIsClean() {
        answers.put("/v1/catalog/services", "{\"consul\":[],\"greeter\":[\"version=v1\"]}");
        answers.put("/v1/health/service/consul", "[{\"Node\":{\"Node\":\"n1\",\"Address\":\"10.0.0.100\"},"
                + "\"Service\":{\"ID\":\"consul\",\"Service\":\"consul\",\"Tags\":[],\"Address\":\"\",\"Port\":8300},"
                + "\"Checks\":[]}]");
        answers.put("/v1/health/service/greeter", "[" + entry("n1", "g1", "greeter", grpc("grpc://10.0.0.1:9000"),
                9000, "passing") + "]");

        Inspection inspection = inspect("?token=" + TOKEN, null);

        assertThat(inspection.problems()).isEmpty();
        assertThat(inspection.raw()).isTrue();
        assertThat(inspection.records()).extracting(Inspection.Record::location)
                .containsExactly("n1/consul/consul", "n1/greeter/g1");
        assertThat(inspection.records().get(0).instance().get().endpoints())
                .containsExactly(URI.create("http://10.0.0.100:8300"));
        assertThat(inspection.records().get(1).instance().get().endpoints())
                .containsExactly(URI.create("grpc://10.0.0.1:9000"));
        assertThat(inspection.records().get(1).instance().get().version()).isEqualTo("v1");
    }

    @Test
    void eachProblemIsNamedWithItsLocation() {
        answers.put("/v1/catalog/services", "{\"greeter\":[],\"\":[]}");
        answers.put("/v1/health/service/greeter", "["
                + entry("n1", "critical", "greeter", grpc("grpc://10.0.0.1:9000"), 9000, "critical") + ","
                + entry("n1", "bad-endpoint", "greeter", grpc("grpc://10.0.0.2"), 9000, "passing") + ","
                + entry("n1", "no-endpoint", "greeter", "", 0, "passing") + ","
                + entry("n1", "other", "billing", grpc("grpc://10.0.0.3:9000"), 9000, "passing") + ","
                + entry("n1", "twice", "greeter", grpc("grpc://10.0.0.4:9000"), 9000, "passing") + ","
                + entry("n2", "twice", "greeter", grpc("grpc://10.0.0.4:9000"), 9000, "passing") + ","
                + "{\"Node\":{\"Node\":\"n1\"},\"Service\":{\"ID\":\"\",\"Service\":\"greeter\"},\"Checks\":[]}"
                + "]");
        answers.put("/v1/health/service/", "[" + entry("n1", "x", "", grpc("grpc://10.0.0.5:9000"), 9000,
                "passing") + "]");

        Inspection inspection = inspect("?token=" + TOKEN, null);

        assertThat(inspection.problems()).extracting(p -> p.location() + " " + p.kind().code()).containsExactly(
                "n1//x empty-service-name",
                "n1/greeter/critical check-critical",
                "n1/greeter/bad-endpoint bad-endpoint",
                "n1/greeter/bad-endpoint no-endpoint",
                "n1/greeter/no-endpoint no-endpoint",
                "n1/greeter/other name-mismatch",
                "n2/greeter/twice duplicate-id",
                "n1/greeter/ not-decodable");
        assertThat(inspection.problems().get(1).detail()).contains("service:critical").contains("TTL expired");
        assertThat(inspection.problems().get(2).detail()).contains("grpc://10.0.0.2");
        assertThat(inspection.problems().get(6).detail()).contains("n1/greeter/twice");
    }

    @Test
    void oneServiceIsReadWithoutTheCatalog() {
        answers.put("/v1/health/service/greeter", "[" + entry("n1", "g1", "greeter", grpc("grpc://10.0.0.1:9000"),
                9000, "passing") + "]");
        Inspection inspection = inspect("?token=" + TOKEN, "greeter");
        assertThat(inspection.records()).hasSize(1);
        assertThat(inspect("?token=" + TOKEN, "nobody").records()).isEmpty(); // Consul: 200 [] or 404
    }

    @Test
    void aRefusedTokenIsAccessDeniedWithoutTheToken() {
        answers.put("/v1/catalog/services", "{}");
        assertThatThrownBy(() -> inspect("?token=wrong-one", null))
                .isInstanceOf(RegistryAccessDeniedException.class)
                .hasMessageContaining("HTTP 403").hasMessageNotContaining("wrong-one");
    }

    @Test
    void anUnreachableAgentIsUnavailable() {
        String unreachable = "consul://127.0.0.1:" + FreePorts.next() + "?timeout=1s";
        try (Registry registry = Registries.open(unreachable)) {
            assertThatThrownBy(() -> new ConsulInspector().inspect(registry, RegistryUri.parse(URI.create(
                    unreachable)), null)).isInstanceOf(RegistryUnavailableException.class);
        }
    }
}
