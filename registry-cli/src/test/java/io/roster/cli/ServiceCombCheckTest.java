package io.roster.cli;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code roster check servicecomb://...} through the entry point: the ServiceComb inspector is found and reads what
 * service-center's v4 API answers, served here by a JDK {@code HttpServer} with two documented answers (the
 * microservice list and one microservice's instances): a Kratos instance and a Java-chassis one whose
 * {@code rest://} endpoint Go Kratos clients never dial.
 */
class ServiceCombCheckTest {
    private static final Map<String, String> ANSWERS = Map.of(
            "/v4/default/registry/microservices", "{\"services\":[{\"serviceId\":\"s1\",\"serviceName\":\"greeter\","
                    + "\"appId\":\"default\",\"version\":\"1.0.0\",\"environment\":\"\",\"framework\":{\"name\":"
                    + "\"kratos\",\"version\":\"v2\"}}]}",
            "/v4/default/registry/microservices/s1/instances", "{\"instances\":[{\"instanceId\":\"go-1\","
                    + "\"serviceId\":\"s1\",\"status\":\"UP\",\"version\":\"1.0.0\",\"endpoints\":"
                    + "[\"grpc://10.0.0.1:9000\"],\"properties\":{\"appId\":\"default\",\"environment\":\"\"}},"
                    + "{\"instanceId\":\"chassis-1\",\"serviceId\":\"s1\",\"status\":\"UP\",\"version\":\"1.0.0\","
                    + "\"endpoints\":[\"rest://10.0.0.2:8080\"],\"properties\":{}}]}");
    private HttpServer server;
    private ExecutorService executor;

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            String body = ANSWERS.get(exchange.getRequestURI().getPath());
            byte[] bytes = (body == null ? "{\"errorCode\":\"400012\",\"errorMessage\":\"Micro-service does not "
                    + "exist.\"}" : body).getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(body == null ? 400 : 200, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        });
        executor = Executors.newSingleThreadExecutor();
        server.setExecutor(executor);
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
        executor.shutdownNow();
    }

    @Test
    void checkNamesTheEndpointGoClientsCannotDialAndExitsOne() {
        String uri = "servicecomb://127.0.0.1:" + server.getAddress().getPort();

        Cli.Result result = Cli.run("check", uri);

        assertThat(result.exit()).as(result.err()).isEqualTo(Exit.PROBLEMS);
        assertThat(result.out()).startsWith(uri + ": service-center microservices of app default (serviceId/instanceId)"
                        + " (raw records)")
                .containsPattern("s1/go-1 +go-1 +1.0.0 +grpc://10.0.0.1:9000 +ok")
                .containsPattern("bad-endpoint +s1/chassis-1 +endpoint rest://10.0.0.2:8080 is not a Kratos endpoint")
                .contains("2 records, 1 problem");
    }
}
