package io.roster.examples;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.examples.grpc.GreeterGrpc;
import io.roster.examples.grpc.HelloReply;
import io.roster.examples.grpc.HelloRequest;
import io.roster.grpc.RosterChannels;
import io.roster.grpc.ServerRegistration;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The gRPC demo: two greeter gRPC servers register themselves ({@link ServerRegistration}); a client calls
 * {@code discovery:///greeter} through a channel built by {@link RosterChannels} (round-robin among the connected
 * instances); greeter-2 leaves the way a rolling restart takes a server out (deregister, drain, graceful shutdown)
 * while the client keeps calling, and no call fails.
 *
 * <pre>
 * mvn -q -pl examples -am -DskipTests package &amp;&amp; java -jar examples/target/roster-demo.jar grpc
 * java -jar examples/target/roster-demo.jar grpc --registry etcd://127.0.0.1:2379
 * </pre>
 */
public final class GrpcGreeterDemo {
    private static final String SERVICE = "greeter";
    private static final Duration DEADLINE = Duration.ofSeconds(5);

    private final String registryUri;
    private final PrintStream out;

    GrpcGreeterDemo(String registryUri, PrintStream out) {
        this.registryUri = registryUri;
        this.out = out;
    }

    /**
     * Runs the demo.
     *
     * @param args {@code --registry <uri>} to use a backend other than the embedded {@code mem://demo}
     * @throws Exception when the demo fails
     */
    public static void main(String[] args) throws Exception {
        new GrpcGreeterDemo(GreeterDemo.registryOption(args, "grpc"), System.out).run();
    }

    void run() throws Exception {
        out.println("Roster gRPC demo on " + registryUri);
        try (Greeter one = Greeter.start("greeter-1", registryUri);
             Greeter two = Greeter.start("greeter-2", registryUri);
             Registry client = Registries.open(registryUri)) {
            out.println("  " + one + " and " + two + " registered");
            ManagedChannel channel = RosterChannels.forService(client, SERVICE).build();
            try {
                GreeterGrpc.GreeterBlockingStub greeter = GreeterGrpc.newBlockingStub(channel);
                awaitBoth(greeter);
                out.println("  client: channel to " + channel.authority() + " via discovery:///" + SERVICE
                        + ", both greeters connected");
                for (int call = 1; call <= 4; call++) {
                    call(greeter, call);
                }

                out.println("  stopping greeter-2 while the client keeps calling: deregister, drain 1 s, "
                        + "graceful shutdown");
                AtomicBoolean loading = new AtomicBoolean(true);
                AtomicInteger ok = new AtomicInteger();
                AtomicInteger failed = new AtomicInteger();
                Thread load = new Thread(() -> {
                    while (loading.get()) {
                        try {
                            hello(greeter, "load");
                            ok.incrementAndGet();
                        } catch (StatusRuntimeException e) {
                            failed.incrementAndGet();
                        }
                    }
                }, "demo-load");
                load.start();
                two.close();
                loading.set(false);
                load.join();
                out.println("  " + ok.get() + " calls during the stop, " + failed.get() + " failed");
                for (int call = 5; call <= 6; call++) {
                    call(greeter, call);
                }
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
        out.println("  all closed, bye");
    }

    private void awaitBoth(GreeterGrpc.GreeterBlockingStub greeter) {
        Set<String> seen = new HashSet<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (seen.size() < 2) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the client did not reach both greeters within 30 s: " + seen);
            }
            seen.add(hello(greeter, "warm-up").getMessage().replace("hello from ", ""));
        }
    }

    private void call(GreeterGrpc.GreeterBlockingStub greeter, int call) {
        out.println("  call " + call + " -> " + hello(greeter, "call " + call).getMessage());
    }

    private static HelloReply hello(GreeterGrpc.GreeterBlockingStub greeter, String name) {
        return greeter.withDeadlineAfter(DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                .sayHello(HelloRequest.newBuilder().setName(name).build());
    }

    /** One greeter gRPC server plus its own registry, as a separate process would have. */
    private static final class Greeter implements AutoCloseable {
        private final String id;
        private final Server server;
        private final Registry registry;
        private final ServerRegistration registration;

        private Greeter(String id, Server server, Registry registry, ServerRegistration registration) {
            this.id = id;
            this.server = server;
            this.registry = registry;
            this.registration = registration;
        }

        static Greeter start(String id, String registryUri) throws IOException {
            Server server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                    .addService(new GreeterGrpc.GreeterImplBase() {
                        @Override
                        public void sayHello(HelloRequest request, StreamObserver<HelloReply> reply) {
                            reply.onNext(HelloReply.newBuilder().setMessage("hello from " + id).build());
                            reply.onCompleted();
                        }
                    })
                    .build()
                    .start();
            Registry registry = Registries.open(registryUri);
            // The endpoint, grpc://127.0.0.1:<port>, comes from the server's socket.
            ServerRegistration registration = ServerRegistration.builder(registry, server, SERVICE)
                    .id(id)
                    .version("v1.0.0")
                    .metadata("lang", "java")
                    .drain(Duration.ofSeconds(1))
                    .register();
            return new Greeter(id, server, registry, registration);
        }

        @Override
        public void close() {
            registration.close(); // deregister, drain, then shut the server down gracefully
            registry.close();
        }

        @Override
        public String toString() {
            return id + " (" + registration.instance().endpoints().get(0) + ")";
        }
    }
}
