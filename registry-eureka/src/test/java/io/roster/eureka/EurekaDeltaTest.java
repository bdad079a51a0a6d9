package io.roster.eureka;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.spi.DaemonThreadFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The watch path's protocol, against a scripted stand-in that answers {@code GET apps}, {@code GET apps/delta} and
 * {@code GET apps/<APP>} as a Eureka server does ({@code ApplicationsResource}, {@code AbstractInstanceRegistry}):
 * a delta repeats every change of its window, carries the whole registry's hash code (the instance count per
 * status, {@code DOWN_1_UP_2_}), and is HTTP 403 when deltas are disabled. The real server runs the same path in
 * the other test classes; here each answer is chosen, so that a mismatch, a refusal and a failure happen on cue.
 */
class EurekaDeltaTest {
    private static final Duration BOUND = Duration.ofSeconds(10);
    private static final Duration QUIET = Duration.ofMillis(600);
    /** Another application, DOWN: it counts in the registry-wide hash code, and its changes are not decoded. */
    private static final String OTHER = "{\"name\":\"OTHER\",\"instance\":[" + instance("OTHER", "o", "DOWN", null)
            + "]}";

    private final Map<String, Answer> answers = new ConcurrentHashMap<>();
    private final List<String> requests = new CopyOnWriteArrayList<>();
    private ExecutorService executor;
    private HttpServer server;
    private Registry registry;

    private record Answer(int status, String body) {
    }

    @BeforeEach
    void start() throws IOException {
        executor = Executors.newCachedThreadPool(new DaemonThreadFactory("test-eureka-stand-in"));
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setExecutor(executor);
        server.createContext("/eureka/apps", this::answer);
        server.start();
        registry = EurekaRegistry.builder()
                .serverUrl(URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/eureka"))
                .refreshInterval(Duration.ofMillis(100))
                .timeout(Duration.ofSeconds(2))
                .build();
    }

    @AfterEach
    void stop() {
        registry.close();
        server.stop(0);
        executor.shutdownNow();
    }

    private void answer(HttpExchange exchange) throws IOException {
        String path = exchange.getRequestURI().getPath().substring("/eureka/".length());
        requests.add(path);
        Answer answer = answers.getOrDefault(path, new Answer(404, ""));
        byte[] body = answer.body().getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().add("Content-Type", "application/json");
        exchange.sendResponseHeaders(answer.status(), body.length == 0 ? -1 : body.length);
        exchange.getResponseBody().write(body);
        exchange.close();
    }

    @Test
    void changesArriveThroughDeltasWithoutReadingEverythingAgain() throws InterruptedException {
        try (Watcher watcher = watchSvcOfA()) {

            delta("DOWN_1_UP_2_", change("b", "UP", "ADDED"));
            assertThat(ids(watcher.next(BOUND))).containsExactly("a", "b");

            // The window repeats "b" on every read, and another application changes: nothing to tell.
            answers.put("apps/delta", new Answer(200, applications("DOWN_1_UP_2_", svc(change("b", "UP", "ADDED")),
                    "{\"name\":\"OTHER\",\"instance\":[" + instance("OTHER", "o", "DOWN", "MODIFIED") + "]}")));
            assertThat(watcher.next(QUIET)).isEmpty();

            delta("DOWN_1_UP_1_", change("b", "UP", "ADDED"), change("a", "UP", "DELETED"));
            assertThat(ids(watcher.next(BOUND))).containsExactly("b");
        }
        assertThat(requests).filteredOn("apps"::equals).as("full reads").hasSize(1);
        assertThat(requests).filteredOn("apps/delta"::equals).hasSizeGreaterThan(3);
        assertThat(requests).filteredOn("apps/SVC"::equals).as("per-application reads").isEmpty();
    }

    @Test
    void aServiceWatchedOnceDeltasAreUnderWayIsReadAloneAndThenFollowedByDeltas() throws InterruptedException {
        try (Watcher first = watchSvcOfA()) {
            await().atMost(BOUND).until(() -> requests.contains("apps/delta"));

            answers.put("apps/OTHER", new Answer(200, "{\"application\":" + OTHER + "}"));
            try (Watcher second = registry.watch("other")) {
                assertThat(ids(second.next(BOUND))).as("its one instance is DOWN").isEmpty();

                answers.put("apps/delta", new Answer(200, applications("DOWN_1_UP_2_", "{\"name\":\"OTHER\","
                        + "\"instance\":[" + instance("OTHER", "p", "UP", "ADDED") + "]}")));
                assertThat(ids(second.next(BOUND))).containsExactly("p");
            }
        }
        assertThat(requests).filteredOn("apps"::equals).as("full reads").hasSize(1);
        assertThat(requests).filteredOn("apps/OTHER"::equals).hasSize(1);
    }

    @Test
    void aDeltaThatDoesNotAddUpToTheHashCodeIsNotAppliedAndEverythingIsReadAgain() throws InterruptedException {
        try (Watcher watcher = watchSvcOfA()) {

            // "c" was added and "d" removed in between, but the delta only shows "b" (the server's window moved on,
            // or this is another node's delta): the counts say 2 UP, the hash code 3.
            full("DOWN_1_UP_3_", "a", "b", "c");
            delta("DOWN_1_UP_3_", change("b", "UP", "ADDED"));

            assertThat(ids(watcher.next(BOUND))).as("the full read, never the delta alone").containsExactly("a", "b",
                    "c");
        }
        assertThat(requests).filteredOn("apps"::equals).as("full reads").hasSizeGreaterThanOrEqualTo(2);
    }

    @Test
    void aServerWithoutDeltasIsReadPerApplication() throws InterruptedException {
        full("DOWN_1_UP_1_", "a");
        answers.put("apps/delta", new Answer(403, "")); // eureka.server.disable-delta=true
        answers.put("apps/SVC", new Answer(200, application(change("a", "UP", null))));
        try (Watcher watcher = registry.watch("svc")) {
            assertThat(ids(watcher.next(BOUND))).containsExactly("a");
            await().atMost(BOUND).until(() -> requests.contains("apps/delta"));

            answers.put("apps/SVC", new Answer(200, application(change("a", "UP", null) + ","
                    + change("b", "UP", null))));
            assertThat(ids(watcher.next(BOUND))).containsExactly("a", "b");
        }
        int deltas = (int) requests.stream().filter("apps/delta"::equals).count();
        assertThat(deltas).as("asked once, then not again for minutes").isEqualTo(1);
    }

    @Test
    void whileTheDeltaHoldsFarMoreThanTheWatchedApplicationsTheyAreReadAlone() throws InterruptedException {
        try (Watcher watcher = watchSvcOfA()) {
            answers.put("apps/SVC", new Answer(200, application(change("a", "UP", null))));
            // A deployment of 60 instances of another application: the delta repeats them on every read.
            String big = IntStream.range(0, 60).mapToObj(i -> instance("BIG", "b" + i, "UP", "ADDED"))
                    .collect(Collectors.joining(","));
            answers.put("apps/delta", new Answer(200, applications("DOWN_1_UP_61_",
                    "{\"name\":\"BIG\",\"instance\":[" + big + "]}")));
            await().atMost(BOUND).until(() -> requests.contains("apps/SVC"));
            long deltas = requests.stream().filter("apps/delta"::equals).count();

            answers.put("apps/SVC", new Answer(200, application(change("a", "UP", null) + ","
                    + change("b", "UP", null))));
            assertThat(ids(watcher.next(BOUND))).containsExactly("a", "b");
            assertThat(requests.stream().filter("apps/delta"::equals).count()).as("deltas read meanwhile")
                    .isEqualTo(deltas);
        }
    }

    @Test
    void aFailedReadKeepsTheLastList() throws InterruptedException {
        try (Watcher watcher = watchSvcOfA()) {

            answers.put("apps/delta", new Answer(500, "oops"));
            answers.put("apps", new Answer(500, "oops"));
            answers.put("apps/SVC", new Answer(500, "oops"));
            int before = requests.size();
            await().atMost(BOUND).until(() -> requests.size() > before + 2);
            assertThat(watcher.next(QUIET)).as("a push while failing").isEmpty();
            assertThat(registry.getService("svc")).extracting(ServiceInstance::id).containsExactly("a");

            delta("DOWN_1_UP_2_", change("b", "UP", "ADDED"));
            assertThat(ids(watcher.next(BOUND))).containsExactly("a", "b");
        }
    }

    /** The usual start: service svc with one instance "a", OTHER with one DOWN, deltas with nothing; watched. */
    private Watcher watchSvcOfA() throws InterruptedException {
        full("DOWN_1_UP_1_", "a");
        delta("DOWN_1_UP_1_");
        Watcher watcher = registry.watch("svc");
        assertThat(ids(watcher.next(BOUND))).containsExactly("a");
        return watcher;
    }

    private void full(String hash, String... ids) {
        String[] instances = new String[ids.length];
        for (int i = 0; i < ids.length; i++) {
            instances[i] = change(ids[i], "UP", "ADDED");
        }
        answers.put("apps", new Answer(200, applications(hash, svc(instances), OTHER)));
    }

    private void delta(String hash, String... changes) {
        answers.put("apps/delta", new Answer(200, changes.length == 0 ? applications(hash)
                : applications(hash, svc(changes))));
    }

    private static String svc(String... instances) {
        return "{\"name\":\"SVC\",\"instance\":[" + String.join(",", instances) + "]}";
    }

    private static String applications(String hash, String... apps) {
        return "{\"applications\":{\"versions__delta\":\"1\",\"apps__hashcode\":\"" + hash + "\",\"application\":["
                + String.join(",", apps) + "]}}";
    }

    private static String application(String instances) {
        return "{\"application\":{\"name\":\"SVC\",\"instance\":[" + instances + "]}}";
    }

    /** A Roster/Kratos record of service {@code svc}, one endpoint. */
    private static String change(String id, String status, String action) {
        return instance("SVC", id, status, action);
    }

    private static String instance(String app, String id, String status, String action) {
        int port = 9000 + Math.abs(id.hashCode() % 1000);
        String instanceId = "10.0.0.1:" + app + ":" + port;
        return "{\"instanceId\":\"" + instanceId + "\",\"hostName\":\"10.0.0.1\",\"app\":\"" + app + "\","
                + "\"ipAddr\":\"10.0.0.1\",\"status\":\"" + status + "\",\"port\":{\"$\":" + port + ",\"@enabled\":"
                + "\"true\"},\"leaseInfo\":{\"lastRenewalTimestamp\":" + System.nanoTime() + "},"
                + "\"metadata\":{\"ID\":\"" + id + "\",\"Name\":\"" + app.toLowerCase() + "\",\"Version\":\"v1\","
                + "\"Endpoints\":\"grpc://10.0.0.1:" + port + "\"}"
                + (action == null ? "" : ",\"actionType\":\"" + action + "\"") + "}";
    }

    private static List<String> ids(java.util.Optional<List<ServiceInstance>> list) {
        assertThat(list).as("a list within the bound").isPresent();
        return list.get().stream().map(ServiceInstance::id).toList();
    }
}
