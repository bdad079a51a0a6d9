package io.roster.grpc;

import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.inprocess.InProcessSocketAddress;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.testkit.EtcdServer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One combination the acceptance tests run on: a registry backend (the embedded {@code mem://} or a real etcd) and a
 * transport (in-process or Netty on loopback).
 */
final class Setup {
    /** Fake ports of in-process servers: endpoint {@code grpc://127.0.0.1:<n>} is in-process server {@code inproc-<n>}. */
    private static final AtomicInteger IN_PROCESS = new AtomicInteger();
    private static EtcdServer etcd;

    final boolean onEtcd;
    final boolean inProcess;
    private final String memName = "grpc-" + UUID.randomUUID();

    Setup(boolean onEtcd, boolean inProcess) {
        this.onEtcd = onEtcd;
        this.inProcess = inProcess;
    }

    /** Opens another client of the same backend, as another process would. */
    Registry openRegistry() {
        return Registries.open(onEtcd ? etcd().uri("/microservices?ttl=5s") : "mem://" + memName);
    }

    /** Starts a server of the test service on the transport. */
    TestServer startServer(String id, Duration delay) {
        AtomicLong calls = new AtomicLong();
        try {
            if (inProcess) {
                int n = IN_PROCESS.incrementAndGet();
                Server server = InProcessServerBuilder.forName("inproc-" + n)
                        .addService(Greeter.service(id, calls, delay)).build().start();
                return new TestServer(id, server, "grpc://127.0.0.1:" + n, calls);
            }
            Server server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                    .addService(Greeter.service(id, calls, delay)).build().start();
            int port = ((InetSocketAddress) server.getListenSockets().get(0)).getPort();
            return new TestServer(id, server, "grpc://127.0.0.1:" + port, calls);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The provider for this transport: in-process endpoints map to their servers' names. */
    DiscoveryNameResolverProvider.Builder provider(Registry registry) {
        DiscoveryNameResolverProvider.Builder builder = DiscoveryNameResolverProvider.builder(registry);
        if (inProcess) {
            builder.socketAddresses(InProcessSocketAddress.class,
                    endpoint -> new InProcessSocketAddress("inproc-" + endpoint.getPort()));
        }
        return builder;
    }

    /** A channel to the service with the given policy. */
    ManagedChannel channel(DiscoveryNameResolverProvider provider, String service, RosterPolicy policy) {
        ManagedChannelBuilder<?> builder;
        if (inProcess) {
            builder = inProcessBuilder(RosterChannels.target(provider.getDefaultScheme(), service), provider)
                    .defaultLoadBalancingPolicy(RosterLoadBalancerProvider.POLICY_NAME);
        } else {
            builder = RosterChannels.forService(provider, service, InsecureChannelCredentials.create());
        }
        return builder.defaultServiceConfig(policy.toServiceConfig()).build();
    }

    ManagedChannel channel(Registry registry, String service, RosterPolicy policy) {
        return channel(provider(registry).build(), service, policy);
    }

    /**
     * In-process channels have no builder that takes a resolver registry; the (deprecated) factory does it. Given
     * the provider itself (not a registry's factory), grpc keeps its address type (in-process addresses).
     */
    @SuppressWarnings("deprecation")
    private static ManagedChannelBuilder<?> inProcessBuilder(String target, DiscoveryNameResolverProvider provider) {
        return InProcessChannelBuilder.forTarget(target).nameResolverFactory(provider);
    }

    static synchronized EtcdServer etcd() {
        if (etcd == null) {
            etcd = EtcdServer.start();
        }
        return etcd;
    }

    static synchronized void stopEtcd() {
        if (etcd != null) {
            etcd.close();
            etcd = null;
        }
    }

    @Override
    public String toString() {
        return (onEtcd ? "etcd" : "mem") + "+" + (inProcess ? "in-process" : "netty");
    }

    /** A running test server. */
    static final class TestServer implements AutoCloseable {
        final String id;
        final Server server;
        final String endpoint;
        final AtomicLong calls;

        TestServer(String id, Server server, String endpoint, AtomicLong calls) {
            this.id = id;
            this.server = server;
            this.endpoint = endpoint;
            this.calls = calls;
        }

        @Override
        public void close() throws InterruptedException {
            server.shutdownNow();
            server.awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
