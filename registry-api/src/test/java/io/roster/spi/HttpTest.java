package io.roster.spi;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiFunction;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

class HttpTest {
    private static final Duration BOUND = Duration.ofSeconds(10);
    private final List<AutoCloseable> closing = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : closing) {
            c.close();
        }
    }

    @Test
    void encodesEverythingButUnreservedAndColon() {
        assertThat(Http.pathSegment("10.0.0.5:GREETER:9000")).isEqualTo("10.0.0.5:GREETER:9000");
        assertThat(Http.pathSegment("a/b c?d#e%f&g=h+i")).isEqualTo("a%2Fb%20c%3Fd%23e%25f%26g%3Dh%2Bi");
        assertThat(Http.pathSegment("A-z_0.9~")).isEqualTo("A-z_0.9~");
        assertThat(Http.pathSegment("é\uD83D\uDE00")).isEqualTo("%C3%A9%F0%9F%98%80");
    }

    @Test
    void shutdownIsSafeOnEveryJavaAndForNull() {
        Http.shutdown(null);
        HttpClient client = HttpClient.newHttpClient();
        Http.shutdown(client);
        Http.shutdown(client);
    }

    @Test
    void neverOpensMoreConnectionsThanItsBoundAndCloseClosesThemAll() throws Exception {
        Server server = server((n, request) -> {
            pause(30);
            return ok(request);
        });
        Http http = client(server, 3);
        List<CompletableFuture<Http.Response>> calls = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            calls.add(http.sendAsync(Http.Request.get("/x/" + i)));
        }
        for (int i = 0; i < 30; i++) {
            assertThat(calls.get(i).get(10, TimeUnit.SECONDS).text()).isEqualTo("GET /x/" + i);
        }
        assertThat(server.peak.get()).isBetween(1, 3);
        assertThat(server.open()).isPositive(); // kept alive

        http.close();

        await().atMost(BOUND).until(() -> server.open() == 0);
        assertThat(http.openConnections()).isZero();
        assertThatThrownBy(() -> http.send(Http.Request.get("/late"))).hasMessageContaining("closed");
    }

    @Test
    void readsChunkedLengthAndToTheEndBodiesAndResolvesRelativePaths() throws Exception {
        Server server = server((n, request) -> {
            if (request.contains("/chunked")) {
                return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\n"
                        + "Trailer: t\r\n\r\n";
            }
            if (request.contains("/eof")) {
                return "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end";
            }
            return ok(request);
        });
        Http http = client(Http.builder(URI.create("http://127.0.0.1:" + server.port() + "/base/")), 2);

        assertThat(http.send(Http.Request.get("/chunked")).text()).isEqualTo("hello world");
        assertThat(http.send(Http.Request.get("/eof")).text()).isEqualTo("until the end");
        assertThat(http.send(Http.Request.get("apps/x")).text()).isEqualTo("GET /base/apps/x");
        Http.Response put = http.send(Http.Request.json("PUT", "/put", "{\"a\":1}"));
        assertThat(put.status()).isEqualTo(200);
        assertThat(server.requests).anySatisfy(r -> assertThat(r).contains("PUT /put HTTP/1.1",
                "Content-Type: application/json", "Content-Length: 7", "X-Secret: s3cr3t"));
        assertThat(http.toString()).doesNotContain("s3cr3t");
    }

    @Test
    void aUserAgentHeaderReplacesTheDefaultOne() throws Exception {
        Server server = server((n, request) -> ok(request));
        Http plain = client(server, 1);
        Http named = client(Http.builder(URI.create("http://127.0.0.1:" + server.port())).header("user-agent",
                "roster-eureka"), 1);

        plain.send(Http.Request.get("/plain"));
        named.send(Http.Request.get("/named"));
        plain.send(Http.Request.get("/per-request").header("User-Agent", "probe"));

        assertThat(server.requests).filteredOn(r -> r.contains("/plain")).singleElement().asString()
                .contains("User-Agent: roster\r\n");
        assertThat(server.requests).filteredOn(r -> r.contains("/named")).singleElement().asString()
                .contains("user-agent: roster-eureka\r\n").doesNotContain("User-Agent: roster\r\n");
        assertThat(server.requests).filteredOn(r -> r.contains("/per-request")).singleElement().asString()
                .contains("User-Agent: probe\r\n").doesNotContain("User-Agent: roster\r\n");
    }

    @Test
    void aServerThatAnswers429IsAskedAgainAfterABackoff() throws Exception {
        Server server = server((n, request) -> n <= 3
                ? "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo many"
                : ok(request));
        Http http = client(server, 2);

        Http.Response response = http.send(Http.Request.json("PUT", "/write", "{}"));

        assertThat(response.status()).isEqualTo(200);
        assertThat(server.connections.get()).isEqualTo(4);
        Server always = server((n, request) ->
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n");
        assertThat(client(always, 1).send(Http.Request.get("/x").timeout(Duration.ofMillis(1500))).status())
                .as("the last 429 once the deadline is near").isEqualTo(429);
    }

    @Test
    void aKeptAliveConnectionClosedByTheServerIsReplacedForIdempotentRequestsOnly() throws Exception {
        Server server = server((n, request) -> ok(request) + "\u0000close"); // answers, then closes quietly
        Http http = client(server, 1);

        assertThat(http.send(Http.Request.get("/one")).text()).isEqualTo("GET /one");
        assertThat(http.send(Http.Request.json("PUT", "/two", "")).text()).isEqualTo("PUT /two");
        assertThat(server.connections.get()).isEqualTo(2);
        assertThatThrownBy(() -> http.send(Http.Request.json("POST", "/three", "{}")))
                .isInstanceOf(IOException.class).hasMessageContaining("closed the connection");
    }

    @Test
    void aRequestWithoutAnswerEndsAtItsDeadlineAndCancellingAnAsyncOneClosesItsConnection() throws Exception {
        Server server = server((n, request) -> "\u0000hang"); // reads on, never answers
        Http http = client(server, 2);
        long started = System.nanoTime();
        assertThatThrownBy(() -> http.send(Http.Request.get("/slow").timeout(Duration.ofMillis(300))))
                .isInstanceOf(SocketTimeoutException.class).hasMessageContaining("/slow");
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(3));

        CompletableFuture<Http.Response> held = http.sendAsync(Http.Request.get("/held"));
        await().atMost(BOUND).until(() -> server.requests.stream().anyMatch(r -> r.contains("/held")));
        held.cancel(true);

        await().atMost(BOUND).until(() -> server.open() == 0); // both connections closed by the client
        assertThat(http.openConnections()).isZero();
    }

    // ---- a scripted HTTP/1.1 server ---------------------------------------------------------------------------

    private static String ok(String request) {
        String line = request.substring(0, request.indexOf(" HTTP/1.1"));
        return "HTTP/1.1 200 OK\r\nContent-Length: " + line.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n"
                + line;
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis); // the server's answer time, not test synchronisation
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private Http client(Server server, int maxConnections) {
        return client(Http.builder(URI.create("http://127.0.0.1:" + server.port())), maxConnections);
    }

    private Http client(Http.Builder builder, int maxConnections) {
        Http http = builder.maxConnections(maxConnections).timeout(Duration.ofSeconds(5)).header("X-Secret", "s3cr3t")
                .threadName("test-http").build();
        closing.add(http);
        return http;
    }

    private Server server(BiFunction<Integer, String, String> answer) throws IOException {
        Server server = new Server(answer);
        closing.add(server);
        return server;
    }

    /**
     * Answers each request with the script's text: a trailing NUL + "close" closes the connection after it, NUL +
     * "hang" never answers and waits for the client to close.
     */
    private static final class Server implements AutoCloseable {
        final ServerSocket socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        final Set<Socket> open = ConcurrentHashMap.newKeySet();
        final AtomicInteger connections = new AtomicInteger();
        final AtomicInteger peak = new AtomicInteger();
        final List<String> requests = new java.util.concurrent.CopyOnWriteArrayList<>();
        final BiFunction<Integer, String, String> answer;

        Server(BiFunction<Integer, String, String> answer) throws IOException {
            this.answer = answer;
            Thread acceptor = new Thread(this::accept, "test-http-server");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        int port() {
            return socket.getLocalPort();
        }

        int open() {
            return open.size();
        }

        private void accept() {
            while (!socket.isClosed()) {
                try {
                    Socket s = socket.accept();
                    int n = connections.incrementAndGet();
                    open.add(s);
                    peak.accumulateAndGet(open.size(), Math::max);
                    Thread t = new Thread(() -> serve(s, n), "test-http-conn");
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        }

        private void serve(Socket s, int n) {
            try (s; BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(),
                    StandardCharsets.ISO_8859_1))) {
                OutputStream out = s.getOutputStream();
                while (true) {
                    StringBuilder head = new StringBuilder();
                    int length = 0;
                    for (String line = in.readLine(); line != null && !line.isEmpty(); line = in.readLine()) {
                        head.append(line).append("\r\n");
                        if (line.toLowerCase().startsWith("content-length:")) {
                            length = Integer.parseInt(line.substring(15).trim());
                        }
                    }
                    if (head.length() == 0) {
                        return; // the client closed
                    }
                    char[] body = new char[length];
                    for (int at = 0; at < length; ) {
                        at += in.read(body, at, length - at);
                    }
                    requests.add(head.toString());
                    String reply = answer.apply(n, head.toString());
                    if (reply.equals("\u0000hang")) {
                        while (in.read() >= 0) {
                            // until the client closes
                        }
                        return;
                    }
                    boolean close = reply.endsWith("\u0000close");
                    out.write(reply.replace("\u0000close", "").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    if (close || reply.contains("Connection: close")) {
                        return;
                    }
                }
            } catch (IOException | RuntimeException e) {
                // the client went away
            } finally {
                open.remove(s);
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
            for (Socket s : open) {
                s.close();
            }
        }
    }

    @Test
    void baseUriOfAnAddress() {
        assertThat(Http.baseUri("x", "10.0.0.1", false, 80, 443)).isEqualTo(URI.create("http://10.0.0.1:80/"));
        assertThat(Http.baseUri("x", "10.0.0.1", true, 80, 443)).isEqualTo(URI.create("https://10.0.0.1:443/"));
        assertThat(Http.baseUri("x", "https://h:9", false, 80, 443)).isEqualTo(URI.create("https://h:9/"));
        assertThat(Http.baseUri("x", "[::1]:7", false, 80, 443)).isEqualTo(URI.create("http://[::1]:7/"));
        assertThatThrownBy(() -> Http.baseUri("x", "http://h:1", true, 80, 443))
                .isInstanceOf(io.roster.InvalidOptionException.class)
                .hasMessage("x option 'tls' is on but the address is http://");
        assertThatThrownBy(() -> Http.baseUri("x", "ftp://h", false, 80, 443))
                .isInstanceOf(io.roster.InvalidOptionException.class).hasMessageContaining("x option 'address'");
        assertThatThrownBy(() -> Http.baseUri("x", "http://u@h/p", false, 80, 443))
                .isInstanceOf(io.roster.InvalidOptionException.class).hasMessageContaining("no user, path or query");
        assertThatThrownBy(() -> Http.baseUri("x", " ", false, 80, 443))
                .isInstanceOf(io.roster.InvalidOptionException.class);
        for (String badPort : List.of("h:0", "h:", "h:99999", "[::1]:65536", "http://h:70000")) {
            assertThatThrownBy(() -> Http.baseUri("x", badPort, false, 80, 443)).as(badPort)
                    .isInstanceOf(io.roster.InvalidOptionException.class)
                    .hasMessage("x option 'address' must have a port between 1 and 65535, was '" + badPort + "'");
        }
    }
}
