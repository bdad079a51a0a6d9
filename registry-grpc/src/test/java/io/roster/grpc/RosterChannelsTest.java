package io.roster.grpc;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.roster.InvalidInstanceException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.grpc.Setup.TestServer;
import io.roster.testkit.TestInstances;
import io.roster.testkit.ThreadLeaks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

/** Channels built by {@link RosterChannels}, over Netty on loopback, on the embedded registry. */
class RosterChannelsTest {
    private final Setup netty = new Setup(false, false);
    private Registry registry;
    private String service;

    @BeforeEach
    void open() {
        registry = netty.openRegistry();
        service = TestInstances.serviceName("greeter");
    }

    @AfterEach
    void close() {
        registry.close();
    }

    @Test
    void targetsAreDiscoveryTripleSlashServiceEscaped() {
        assertThat(RosterChannels.target("discovery", "greeter")).isEqualTo("discovery:///greeter");
        assertThat(RosterChannels.target("etcd", "_private.svc")).isEqualTo("etcd:///_private.svc");
        assertThat(RosterChannels.target("discovery", "a b")).isEqualTo("discovery:///a%20b");
        assertThatThrownBy(() -> RosterChannels.target("discovery", "a/b")).isInstanceOf(InvalidInstanceException.class);
        assertThatThrownBy(() -> RosterChannels.forService(registry, "")).isInstanceOf(InvalidInstanceException.class);
    }

    @Test
    void oneLineChannelCallsTheServiceRoundRobinAndLeavesNoThreadAfterShutdown() throws Exception {
        ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
        try (TestServer a = netty.startServer("a", Duration.ZERO);
             TestServer b = netty.startServer("b", Duration.ZERO)) {
            registry.register(GrpcAcceptanceTest.instance(service, a, "v1"));
            registry.register(GrpcAcceptanceTest.instance(service, b, "v1"));
            ManagedChannel channel = RosterChannels.forService(registry, service).build();
            ManagedChannel second = RosterChannels.forService(registry, service).build();
            try {
                assertThat(channel.authority()).isEqualTo(service);
                await().atMost(Duration.ofSeconds(5)).until(() -> Greeter.hello(channel).equals("b"));
                Set<String> answers = new HashSet<>();
                for (int i = 0; i < 10; i++) {
                    answers.add(Greeter.hello(channel));
                }
                assertThat(answers).containsExactlyInAnyOrder("a", "b");
                assertThat(Greeter.hello(second)).isIn("a", "b");
            } finally {
                GrpcAcceptanceTest.close(channel);
                GrpcAcceptanceTest.close(second);
            }
        }
        before.assertNoNewThreads(Duration.ofSeconds(5), t -> !t.getName().startsWith("roster-"));
    }

    @Test
    void aTlsChannelCallsGrpcsEndpointsAndNamesTheSchemesWhenThereAreNone() throws Exception {
        registry.register(ServiceInstance.builder().name(service).id("1").endpoint("grpc://127.0.0.1:9")
                .endpoint("http://127.0.0.1:10").build());
        ManagedChannel channel = RosterChannels.forService(registry, service, TlsChannelCredentials.create()).build();
        try {
            StatusRuntimeException failure = catchThrowableOfType(StatusRuntimeException.class,
                    () -> Greeter.hello(channel));
            assertThat(failure.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
            assertThat(failure.getStatus().getDescription()).contains("service '" + service + "'",
                    "none with a usable 'grpcs' endpoint", "schemes: grpc, http");
        } finally {
            GrpcAcceptanceTest.close(channel);
        }
    }

    @Test
    void aMetadataOnlyChangeReroutesThroughPreferences() throws Exception {
        try (TestServer a = netty.startServer("a", Duration.ZERO);
             TestServer b = netty.startServer("b", Duration.ZERO)) {
            ServiceInstance aInstance = ServiceInstance.builder().name(service).id("a").metadata("zone", "z1")
                    .endpoint(a.endpoint).build();
            registry.register(aInstance);
            registry.register(ServiceInstance.builder().name(service).id("b").metadata("zone", "z1")
                    .endpoint(b.endpoint).build());
            ManagedChannel channel = RosterChannels.forService(registry, service)
                    .defaultServiceConfig(RosterPolicy.builder().prefer("zone", "z2").build().toServiceConfig())
                    .build();
            try {
                GrpcAcceptanceTest.callUntil(channel, "a");
                GrpcAcceptanceTest.callUntil(channel, "b");
                registry.register(aInstance.toBuilder().metadata("zone", "z2").build()); // same id and endpoint
                await().atMost(Duration.ofSeconds(5)).until(() -> {
                    for (int i = 0; i < 10; i++) {
                        if (!Greeter.hello(channel).equals("a")) {
                            return false;
                        }
                    }
                    return true;
                });
            } finally {
                GrpcAcceptanceTest.close(channel);
            }
        }
    }

    @Test
    void aChannelBuiltBeforeTheRegistryAnswersWaitsThenFailsFastSayingSo() throws Exception {
        GatedRegistry stalled = new GatedRegistry(Registries.open("mem://stalled-" + UUID.randomUUID()), false);
        DiscoveryNameResolverProvider provider = DiscoveryNameResolverProvider.builder(stalled)
                .firstListWait(Duration.ofMillis(200)).build();
        ManagedChannel channel = RosterChannels.forService(provider, service,
                io.grpc.InsecureChannelCredentials.create()).build();
        try {
            StatusRuntimeException failure = catchThrowableOfType(StatusRuntimeException.class,
                    () -> Greeter.hello(channel));
            assertThat(failure.getStatus().getDescription()).contains("did not answer within 200 ms");
        } finally {
            GrpcAcceptanceTest.close(channel);
            stalled.close();
        }
    }
}
