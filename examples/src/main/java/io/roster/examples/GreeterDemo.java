package io.roster.examples;

import com.sun.net.httpserver.HttpServer;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.WatcherClosedException;
import io.roster.select.Balancer;
import io.roster.select.Selection;
import io.roster.select.Selector;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * The demo: two "greeter" HTTP services register themselves; a client watches {@code greeter}, calls it
 * round-robin through a {@link Selector} and prints who answered; one greeter stops and deregisters, the client's
 * watcher shows it gone, and everything closes.
 *
 * <pre>
 * mvn -q -pl examples -am -DskipTests package && java -jar examples/target/roster-demo.jar
 * java -jar examples/target/roster-demo.jar --registry etcd://127.0.0.1:2379
 * java -jar examples/target/roster-demo.jar grpc      (the same over gRPC: {@link GrpcGreeterDemo})
 * </pre>
 */
public final class GreeterDemo {
    private static final String SERVICE = "greeter";
    private static final Duration WAIT = Duration.ofSeconds(30);

    private final String registryUri;
    private final PrintStream out;

    GreeterDemo(String registryUri, PrintStream out) {
        this.registryUri = registryUri;
        this.out = out;
    }

    /**
     * Runs the demo.
     *
     * @param args {@code --registry <uri>} to use a backend other than the embedded {@code mem://demo}; a first
     *     argument {@code grpc} runs {@link GrpcGreeterDemo} instead
     * @throws Exception when the demo fails
     */
    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("grpc")) {
            GrpcGreeterDemo.main(java.util.Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        new GreeterDemo(registryOption(args, ""), System.out).run();
    }

    /** Reads {@code [--registry <uri>]}; exits with the usage on anything else. */
    static String registryOption(String[] args, String command) {
        String uri = "mem://demo";
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--registry") && i + 1 < args.length) {
                uri = args[++i];
            } else {
                System.err.println("usage: roster-demo.jar " + (command.isEmpty() ? "[grpc] " : command + " ")
                        + "[--registry <uri>]   (default mem://demo)");
                System.exit(2);
            }
        }
        return uri;
    }

    void run() throws Exception {
        out.println("Roster demo on " + registryUri);
        try (Greeter one = Greeter.start("greeter-1", registryUri);
             Greeter two = Greeter.start("greeter-2", registryUri);
             Registry client = Registries.open(registryUri);
             Watcher watcher = client.watch(SERVICE);
             Selector selector = Selector.builder(SERVICE, "http").balancer(Balancer.roundRobin()).build()) {
            out.println("  " + one + " and " + two + " registered");

            // The client feeds each new list from its watcher to its round-robin selector in the background (a
            // selector can follow a watcher by itself; the demo also prints each list).
            BlockingQueue<List<ServiceInstance>> updates = new LinkedBlockingQueue<>();
            Thread follower = new Thread(() -> follow(watcher, selector, updates), "demo-watcher");
            follower.setDaemon(true);
            follower.start();

            awaitSize(updates, 2);
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
            for (int call = 1; call <= 4; call++) {
                call(http, selector, call);
            }

            out.println("  stopping greeter-2 (it deregisters itself)");
            two.close();
            awaitSize(updates, 1);
            for (int call = 5; call <= 6; call++) {
                call(http, selector, call);
            }
        }
        out.println("  all closed, bye");
    }

    private void follow(Watcher watcher, Selector selector, BlockingQueue<List<ServiceInstance>> updates) {
        try {
            while (true) {
                List<ServiceInstance> list = watcher.next();
                selector.update(list);
                updates.add(list);
            }
        } catch (WatcherClosedException | InterruptedException e) {
            // closed at the end of the demo
        }
    }

    private List<ServiceInstance> awaitSize(BlockingQueue<List<ServiceInstance>> updates, int size)
            throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            List<ServiceInstance> list = updates.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
            if (list == null) {
                throw new IllegalStateException("the watcher did not show " + size + " greeter(s) within " + WAIT);
            }
            out.println("  watcher: greeter has " + list.size() + " instance(s): " + names(list));
            if (list.size() == size) {
                return list;
            }
        }
    }

    private void call(HttpClient http, Selector selector, int call) throws IOException, InterruptedException {
        Selection target = selector.select();
        URI endpoint = target.endpoint();
        boolean ok = false;
        try {
            HttpResponse<String> reply = http.send(HttpRequest.newBuilder(endpoint.resolve("/hello")).build(),
                    HttpResponse.BodyHandlers.ofString());
            ok = reply.statusCode() == 200;
            out.println("  call " + call + " -> " + target.instance().id() + " at " + endpoint + ": " + reply.body());
        } finally {
            target.done(ok);
        }
    }

    private static String names(List<ServiceInstance> list) {
        return list.stream().map(ServiceInstance::id).collect(Collectors.joining(", ", "[", "]"));
    }

    /** One greeter service: an HTTP server plus its own registry, as a separate process would have. */
    private static final class Greeter implements AutoCloseable {
        private final String id;
        private final HttpServer server;
        private final Registry registry;

        private Greeter(String id, HttpServer server, Registry registry) {
            this.id = id;
            this.server = server;
            this.registry = registry;
        }

        static Greeter start(String id, String registryUri) throws IOException {
            HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
            server.createContext("/hello", exchange -> {
                byte[] body = ("hello from " + id).getBytes(StandardCharsets.UTF_8);
                exchange.sendResponseHeaders(200, body.length);
                try (OutputStream os = exchange.getResponseBody()) {
                    os.write(body);
                }
            });
            server.start();
            Registry registry = Registries.open(registryUri);
            registry.register(ServiceInstance.builder()
                    .name(SERVICE)
                    .id(id)
                    .version("v1.0.0")
                    .metadata("lang", "java")
                    .endpoint("http://127.0.0.1:" + server.getAddress().getPort())
                    .build());
            return new Greeter(id, server, registry);
        }

        @Override
        public void close() {
            registry.close(); // deregisters before the server stops, so no client is sent to a closed port
            server.stop(0);
        }

        @Override
        public String toString() {
            return id + " (port " + server.getAddress().getPort() + ")";
        }
    }
}
