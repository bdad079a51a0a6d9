package io.roster.grpc;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

class ServerRegistrationTest {
    private Registry registry;
    private String service;

    @BeforeEach
    void open() {
        registry = Registries.open("mem://server-" + UUID.randomUUID());
        service = TestInstances.serviceName("greeter");
    }

    @AfterEach
    void close() {
        registry.close();
    }

    @Test
    void endpointsComeFromTheListeningSockets() throws Exception {
        InetAddress wildcard = InetAddress.getByName("0.0.0.0");
        List<InetSocketAddress> sockets = List.of(new InetSocketAddress(InetAddress.getLoopbackAddress(), 9000),
                new InetSocketAddress(InetAddress.getByName("::1"), 9001),
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 9000));
        assertThat(ServerRegistration.endpoints(sockets, "grpc", null)).containsExactly(
                URI.create("grpc://127.0.0.1:9000"), URI.create("grpc://[0:0:0:0:0:0:0:1]:9001"));
        // Every interface: the configured host, else one picked from this machine's interfaces.
        List<InetSocketAddress> any = List.of(new InetSocketAddress(wildcard, 9443));
        assertThat(ServerRegistration.endpoints(any, "grpcs", "10.1.2.3"))
                .containsExactly(URI.create("grpcs://10.1.2.3:9443"));
        URI picked = ServerRegistration.endpoints(any, "grpc", null).get(0);
        assertThat(InetAddress.getByName(picked.getHost())).isEqualTo(AdvertisedHost.pick());
        assertThat(InetAddress.getByName(picked.getHost()).isAnyLocalAddress()).isFalse();
    }

    @Test
    void aSiteLocalAddressOfAnUpInterfaceIsPreferred() throws Exception {
        AdvertisedHost.Candidate loopback = candidate(1, true, true, "127.0.0.1");
        AdvertisedHost.Candidate down = candidate(2, false, false, "10.0.0.9");
        AdvertisedHost.Candidate global = candidate(2, true, false, "203.0.113.7");
        AdvertisedHost.Candidate linkLocal = candidate(3, true, false, "169.254.1.1");
        AdvertisedHost.Candidate uniqueLocal = candidate(3, true, false, "fd00::5");
        AdvertisedHost.Candidate sitelocal = candidate(4, true, false, "192.168.1.20");
        AdvertisedHost.Candidate sitelocalLater = candidate(5, true, false, "10.0.0.20");

        assertThat(AdvertisedHost.choose(List.of(loopback, down, global, linkLocal, uniqueLocal, sitelocalLater,
                sitelocal))).contains(InetAddress.getByName("192.168.1.20"));
        assertThat(AdvertisedHost.choose(List.of(global, uniqueLocal))).contains(InetAddress.getByName("fd00::5"));
        assertThat(AdvertisedHost.choose(List.of(global, linkLocal))).contains(InetAddress.getByName("203.0.113.7"));
        assertThat(AdvertisedHost.choose(List.of(loopback, down, linkLocal))).isEmpty();
    }

    @Test
    void aNettyServerOnLoopbackIsRegisteredWithItsPort() throws Exception {
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(Greeter.service("a", new AtomicLong(), Duration.ZERO)).build().start();
        int port = ((InetSocketAddress) server.getListenSockets().get(0)).getPort();
        try (ServerRegistration registration = ServerRegistration.builder(registry, server, service).id("a")
                .version("v1").metadata("zone", "z1").drain(Duration.ZERO).register()) {
            ServiceInstance registered = registry.getService(service).get(0);
            assertThat(registered).isEqualTo(registration.instance());
            assertThat(registered.endpoints()).containsExactly(URI.create("grpc://127.0.0.1:" + port));
            assertThat(registered.version()).isEqualTo("v1");
            assertThat(registered.metadata()).containsEntry("zone", "z1");
        }
        assertThat(server.isTerminated()).isTrue();
        assertThat(registry.getService(service)).isEmpty();
    }

    @Test
    void closeDeregistersThenServesThroughTheDrainThenShutsDown() throws Exception {
        AtomicLong calls = new AtomicLong();
        String name = "drain-" + UUID.randomUUID();
        Server server = InProcessServerBuilder.forName(name)
                .addService(Greeter.service("a", calls, Duration.ZERO)).build().start();
        ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
        try {
            ServerRegistration registration = ServerRegistration.builder(registry, server, service).id("a")
                    .endpoint("grpc://127.0.0.1:9000").drain(Duration.ofSeconds(1)).register();
            assertThat(registry.getService(service)).hasSize(1);

            CompletableFuture<Void> closing = CompletableFuture.runAsync(registration::close);
            await().atMost(Duration.ofSeconds(5)).until(() -> registry.getService(service).isEmpty());
            // Deregistered, still serving: clients that have not seen it leave yet lose nothing.
            assertThat(server.isShutdown()).isFalse();
            assertThat(Greeter.hello(channel)).isEqualTo("a");

            closing.get(10, TimeUnit.SECONDS);
            assertThat(server.isTerminated()).isTrue();
            registration.close(); // idempotent
        } finally {
            channel.shutdownNow();
            server.shutdownNow();
        }
    }

    @Test
    void badInstancesAndServersAreRefusedBeforeAnythingIsRegistered() throws Exception {
        Server notStarted = InProcessServerBuilder.forName("never-" + UUID.randomUUID()).build();
        assertThatThrownBy(() -> ServerRegistration.builder(registry, notStarted, service).register())
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("not started");
        Server inProcess = InProcessServerBuilder.forName("inproc-" + UUID.randomUUID()).build().start();
        try {
            assertThatThrownBy(() -> ServerRegistration.builder(registry, inProcess, service).register())
                    .isInstanceOf(InvalidOptionException.class).hasMessageContaining("endpoint(...)");
            assertThatThrownBy(() -> ServerRegistration.builder(registry, inProcess, service).version("v 1")
                    .endpoint("grpc://127.0.0.1:9000").register()).isInstanceOf(InvalidInstanceException.class);
            assertThatThrownBy(() -> ServerRegistration.builder(registry, inProcess, service)
                    .drain(Duration.ofSeconds(-1))).isInstanceOf(InvalidOptionException.class);
            assertThat(registry.getService(service)).isEmpty();
        } finally {
            inProcess.shutdownNow();
        }
    }

    private static AdvertisedHost.Candidate candidate(int index, boolean up, boolean loopback, String address)
            throws Exception {
        return new AdvertisedHost.Candidate(index, up, loopback, InetAddress.getByName(address));
    }
}
