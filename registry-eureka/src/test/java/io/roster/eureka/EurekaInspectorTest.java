package io.roster.eureka;

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
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link EurekaInspector} on the JSON a Eureka server answers to {@code GET apps} and {@code GET apps/<APP>},
 * served by a JDK HTTP server with basic authentication.
 */
class EurekaInspectorTest {
    private static final String AUTH = "Basic " + Base64.getEncoder().encodeToString("app:s3cret".getBytes(
            StandardCharsets.UTF_8));
    private final Map<String, String> answers = new ConcurrentHashMap<>();
    private HttpServer server;

    @BeforeEach
    void startServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/eureka/", exchange -> {
            String body = answers.get(exchange.getRequestURI().getRawPath());
            boolean json = "application/json".equals(exchange.getRequestHeaders().getFirst("Accept"));
            int status = !AUTH.equals(exchange.getRequestHeaders().getFirst("Authorization")) ? 401
                    : !json ? 406 : body == null ? 404 : 200;
            byte[] bytes = status == 200 ? body.getBytes(StandardCharsets.UTF_8) : new byte[0];
            exchange.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        });
        server.start();
    }

    @AfterEach
    void stopServer() {
        server.stop(0);
    }

    private String uri(String userInfo) {
        // A server that is down first: the inspector moves on to the next, as the registry does.
        return "eureka://" + userInfo + "127.0.0.1:" + FreePorts.next() + ",127.0.0.1:" + server.getAddress().getPort()
                + "/eureka?timeout=2s";
    }

    private Inspection inspect(String uri, String service) {
        try (Registry registry = Registries.open(uri)) {
            return new EurekaInspector().inspect(registry, RegistryUri.parse(URI.create(uri)), service);
        }
    }

    /** One Eureka instance as Kratos or Spring Cloud writes it; the metadata makes the difference. */
    private static String instance(String app, String ip, int port, boolean portEnabled, String metadata) {
        return "{\"instanceId\":\"" + ip + ":" + app + ":" + port + "\",\"hostName\":\"" + app + "\",\"app\":\""
                + app + "\",\"ipAddr\":\"" + ip + "\",\"status\":\"UP\",\"port\":{\"$\":" + port
                + ",\"@enabled\":\"" + portEnabled + "\"},\"securePort\":{\"$\":443,\"@enabled\":\"false\"},"
                + "\"metadata\":{" + metadata + "}}";
    }

    private static String kratos(String id, String name, String endpoint) {
        return "\"ID\":\"" + id + "\",\"Name\":\"" + name + "\",\"Version\":\"v1\",\"Endpoints\":\"" + endpoint
                + "\",\"agent\":\"go-eureka-client\",\"zone\":\"a\"";
    }

    private static String apps(String... applications) {
        return "{\"applications\":{\"versions__delta\":\"1\",\"apps__hashcode\":\"UP_1_\",\"application\":["
                + String.join(",", applications) + "]}}";
    }

    @Test
    void kratosAndSpringRecordsAreClean() {
        answers.put("/eureka/apps", apps(
                "{\"name\":\"GREETER\",\"instance\":["
                        + instance("GREETER", "10.0.0.5", 9000, true, kratos("g1", "greeter", "grpc://10.0.0.5:9000"))
                        + "," + instance("GREETER", "10.0.0.5", 8000, true, kratos("g1", "greeter",
                        "http://10.0.0.5:8000")) + "]}",
                "{\"name\":\"SPRING-APP\",\"instance\":" + instance("SPRING-APP", "10.0.0.6", 8080, true,
                        "\"management.port\":\"8081\"") + "}"));

        Inspection inspection = inspect(uri("app:s3cret@"), null);

        assertThat(inspection.problems()).isEmpty();
        assertThat(inspection.records()).extracting(Inspection.Record::location).containsExactly(
                "GREETER/10.0.0.5:GREETER:9000", "GREETER/10.0.0.5:GREETER:8000",
                "SPRING-APP/10.0.0.6:SPRING-APP:8080");
        assertThat(inspection.records().get(0).instance().get().metadata()).containsOnlyKeys("zone");
        assertThat(inspection.records().get(2).instance().get().endpoints())
                .containsExactly(URI.create("http://10.0.0.6:8080"));
    }

    @Test
    void brokenKratosKeysAreProblemsAndNamedWithTheirInstance() {
        answers.put("/eureka/apps", apps(
                "{\"name\":\"GREETER\",\"instance\":["
                        + instance("GREETER", "10.0.0.1", 9000, true, "\"Name\":\"greeter\",\"Endpoints\":"
                        + "\"grpc://10.0.0.1:9000\"") + ","
                        + instance("GREETER", "10.0.0.2", 9000, true, kratos("g2", "billing", "grpc://10.0.0.2:9000"))
                        + "," + instance("GREETER", "10.0.0.3", 9000, true, kratos("g3", "greeter", "grpc://10.0.0.3"))
                        + "," + instance("GREETER", "10.0.0.4", 9000, true, kratos("g4", "greeter",
                        "grpc://10.0.0.9:9000")) + ","
                        + instance("GREETER", "10.0.0.5", 9000, true, "\"ID\":\"g5\",\"Name\":\"greeter\"") + "]}",
                "{\"name\":\"SPRING-APP\",\"instance\":" + instance("SPRING-APP", "10.0.0.6", 8080, false, "")
                        + "}"));

        Inspection inspection = inspect(uri("app:s3cret@"), null);

        assertThat(inspection.problems()).extracting(p -> p.location() + " " + p.kind().code()).containsExactly(
                "GREETER/10.0.0.1:GREETER:9000 not-decodable",
                "GREETER/10.0.0.2:GREETER:9000 name-mismatch",
                "GREETER/10.0.0.3:GREETER:9000 bad-endpoint",
                "GREETER/10.0.0.4:GREETER:9000 bad-endpoint",
                "GREETER/10.0.0.5:GREETER:9000 no-endpoint",
                "SPRING-APP/10.0.0.6:SPRING-APP:8080 no-endpoint");
        assertThat(inspection.problems().get(0).detail()).contains("no ID").contains("missing: ID, Version");
        assertThat(inspection.problems().get(3).detail()).contains("#3818");
    }

    @Test
    void theSameEndpointOfOneInstanceTwiceIsADuplicate() {
        answers.put("/eureka/apps/GREETER", "{\"application\":{\"name\":\"GREETER\",\"instance\":["
                + instance("GREETER", "10.0.0.1", 9000, true, kratos("g1", "greeter", "grpc://10.0.0.1:9000"))
                + "," + instance("GREETER", "10.0.0.1", 9000, true, kratos("g1", "greeter", "grpc://10.0.0.1:9000"))
                        .replace("\"instanceId\":\"10.0.0.1:GREETER:9000\"", "\"instanceId\":\"copy\"") + "]}}");

        Inspection inspection = inspect(uri("app:s3cret@"), "greeter");

        assertThat(inspection.problems()).extracting(p -> p.location() + " " + p.kind().code())
                .containsExactly("GREETER/copy duplicate-id");
        assertThat(inspect(uri("app:s3cret@"), "nobody").records()).isEmpty();
    }

    @Test
    void refusedCredentialsAreAccessDenied() {
        answers.put("/eureka/apps", apps());
        assertThatThrownBy(() -> inspect(uri("app:wrong@"), null)).isInstanceOf(RegistryAccessDeniedException.class)
                .hasMessageContaining("HTTP 401").hasMessageNotContaining("wrong");
    }

    @Test
    void noServerAnsweringIsUnavailable() {
        String down = "eureka://127.0.0.1:" + FreePorts.next() + "/eureka?timeout=1s";
        assertThatThrownBy(() -> inspect(down, null)).isInstanceOf(RegistryUnavailableException.class);
    }

    @Test
    void serversAreReadAsTheProviderReadsThem() {
        assertThat(EurekaInspector.servers(RegistryUri.parse(URI.create("eureka://h1:8761,h2:8761/eureka/v2")),
                false)).containsExactly(URI.create("http://h1:8761/eureka/v2/"),
                URI.create("http://h2:8761/eureka/v2/"));
        assertThat(EurekaInspector.servers(RegistryUri.parse(URI.create("eureka://h1/a,h2/b")), true))
                .containsExactly(URI.create("https://h1/a/"), URI.create("https://h2/b/"));
        assertThat(EurekaInspector.servers(RegistryUri.parse(URI.create("eureka://h1:8761")), false))
                .containsExactly(URI.create("http://h1:8761/eureka/"));
        assertThat(EurekaInspector.servers(RegistryUri.parse(URI.create("eureka://h1:8761/")), false))
                .containsExactly(URI.create("http://h1:8761/"));
    }
}
