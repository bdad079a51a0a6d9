package io.roster.grpc;

import io.grpc.EquivalentAddressGroup;
import io.grpc.NameResolver;
import io.grpc.Status;
import io.grpc.StatusOr;
import io.grpc.SynchronizationContext;
import io.roster.RegistryUnavailableException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.testkit.ThreadLeaks;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

/** The resolver on its own: a real synchronization context and scheduler, a listener that records every report. */
class DiscoveryNameResolverTest {
    private final SynchronizationContext sync = new SynchronizationContext((t, e) -> fail("uncaught", e));
    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    private final List<NameResolver> started = new ArrayList<>();
    private Registry registry;
    private String service;

    @BeforeEach
    void open() {
        registry = Registries.open("mem://resolver-" + UUID.randomUUID());
        service = TestInstances.serviceName("greeter");
    }

    @AfterEach
    void close() {
        started.forEach(r -> sync.execute(r::shutdown));
        scheduler.shutdownNow();
        registry.close();
    }

    @Test
    void targetsOfTheFormSchemeSlashSlashSlashServiceOnly() {
        DiscoveryNameResolverProvider provider = DiscoveryNameResolverProvider.of(registry);
        assertThat(provider.serviceOf(URI.create("discovery:///greeter"))).isEqualTo("greeter");
        assertThat(provider.serviceOf(URI.create("discovery:///_private.svc"))).isEqualTo("_private.svc");
        assertThat(provider.newNameResolver(URI.create("dns:///greeter"), args())).isNull();
        assertThatThrownBy(() -> provider.serviceOf(URI.create("discovery://greeter")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("discovery:///<service>");
        assertThatThrownBy(() -> provider.serviceOf(URI.create("discovery://ns/greeter")))
                .hasMessageContaining("authority");
        assertThatThrownBy(() -> provider.serviceOf(URI.create("discovery:greeter"))).hasMessageContaining("names no");
        assertThatThrownBy(() -> provider.serviceOf(URI.create("discovery:///a/b"))).hasMessageContaining("valid");
        assertThat(DiscoveryNameResolverProvider.builder(registry).targetScheme("etcd").build().getDefaultScheme())
                .isEqualTo("etcd");
    }

    @Test
    void eachInstanceGivesItsFirstEndpointOfTheSchemeOnceWithItsAttributes() throws Exception {
        registry.register(ServiceInstance.builder().name(service).id("1").version("v2").metadata("zone", "z1")
                .metadata("weight", "30").endpoint("http://127.0.0.1:8001").endpoint("grpc://127.0.0.1:9001")
                .endpoint("grpc://127.0.0.1:9002").build());
        // Same address as 1: one address, the first instance in id order keeps it.
        registry.register(ServiceInstance.builder().name(service).id("2").endpoint("grpc://127.0.0.1:9001").build());
        registry.register(ServiceInstance.builder().name(service).id("3").metadata("weight", "-5")
                .endpoint("grpc://[::1]:9003").build());
        Reports reports = start(DiscoveryNameResolverProvider.of(registry));

        List<EquivalentAddressGroup> addresses = reports.nextAddresses();
        assertThat(addresses).hasSize(2);
        EquivalentAddressGroup first = addresses.get(0);
        assertThat(first.getAddresses()).containsExactly(new InetSocketAddress(InetAddress.getLoopbackAddress(), 9001));
        assertThat(first.getAttributes().get(RosterAttributes.INSTANCE).id()).isEqualTo("1");
        assertThat(first.getAttributes().get(RosterAttributes.ENDPOINT)).hasToString("grpc://127.0.0.1:9001");
        assertThat(first.getAttributes().get(RosterAttributes.VERSION)).isEqualTo("v2");
        assertThat(first.getAttributes().get(RosterAttributes.ZONE)).isEqualTo("z1");
        assertThat(first.getAttributes().get(RosterAttributes.WEIGHT)).isEqualTo(30);
        assertThat(first.getAttributes().get(EquivalentAddressGroup.ATTR_AUTHORITY_OVERRIDE)).isEqualTo(service);
        EquivalentAddressGroup third = addresses.get(1);
        assertThat(third.getAddresses()).containsExactly(new InetSocketAddress(InetAddress.getByName("::1"), 9003));
        assertThat(third.getAttributes().get(RosterAttributes.WEIGHT)).isZero();
        assertThat(third.getAttributes().get(RosterAttributes.ZONE)).isNull();
        assertThat(reports.resolver.getServiceAuthority()).isEqualTo(service);
    }

    @Test
    void aMetadataOnlyChangeIsReportedWithTheNewAttributes() throws Exception {
        ServiceInstance instance = ServiceInstance.builder().name(service).id("1").metadata("zone", "z1")
                .endpoint("grpc://127.0.0.1:9001").build();
        registry.register(instance);
        Reports reports = start(DiscoveryNameResolverProvider.of(registry));
        assertThat(reports.nextAddresses().get(0).getAttributes().get(RosterAttributes.ZONE)).isEqualTo("z1");

        registry.register(instance.toBuilder().metadata("zone", "z2").metadata("weight", "7").build());
        EquivalentAddressGroup changed = reports.nextAddresses().get(0);
        assertThat(changed.getAddresses()).isEqualTo(List.of(new InetSocketAddress("127.0.0.1", 9001)));
        assertThat(changed.getAttributes().get(RosterAttributes.ZONE)).isEqualTo("z2");
        assertThat(changed.getAttributes().get(RosterAttributes.WEIGHT)).isEqualTo(7);
    }

    @Test
    void noInstanceIsANamedUnavailableAndAnInstanceRecovers() throws Exception {
        Reports reports = start(DiscoveryNameResolverProvider.of(registry));
        Status none = reports.nextError();
        assertThat(none.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(none.getDescription()).isEqualTo("no instance of service '" + service + "' to call: registry "
                + registry + " lists no instance of it");

        registry.register(ServiceInstance.builder().name(service).id("1").endpoint("grpc://127.0.0.1:9001").build());
        assertThat(reports.nextAddresses()).hasSize(1);
    }

    @Test
    void instancesWithoutAUsableEndpointAreNamedWithTheSchemesTheyHave() throws Exception {
        registry.register(ServiceInstance.builder().name(service).id("1").endpoint("http://127.0.0.1:8001")
                .endpoint("grpcs://127.0.0.1:9443").build());
        registry.register(ServiceInstance.builder().name(service).id("2").endpoint("grpc://nosuchhost.invalid:9001")
                .build());
        // No DNS lookup in a test: the mapping refuses that host as an unresolvable one would be refused.
        Status error = start(DiscoveryNameResolverProvider.builder(registry)
                .socketAddresses(InetSocketAddress.class, endpoint -> {
                    if (endpoint.getHost().endsWith(".invalid")) {
                        throw new IllegalArgumentException("host " + endpoint.getHost() + " does not resolve");
                    }
                    return DiscoveryNameResolverProvider.inetAddress(endpoint);
                })
                .build()).nextError();
        assertThat(error.getDescription()).contains("service '" + service + "'", registry.toString(),
                "2 instance(s) listed", "none with a usable 'grpc' endpoint", "schemes: grpcs, http",
                "no address for nosuchhost.invalid:9001");

        // A TLS channel's provider calls grpcs endpoints: instance 1 is usable there.
        List<EquivalentAddressGroup> tls = start(DiscoveryNameResolverProvider.builder(registry)
                .endpointScheme("grpcs").build()).nextAddresses();
        assertThat(tls).hasSize(1);
        assertThat(tls.get(0).getAttributes().get(RosterAttributes.ENDPOINT)).hasToString("grpcs://127.0.0.1:9443");
    }

    @Test
    void noFirstListWithinTheWaitIsANamedUnavailableThenTheListWhenItComes() throws Exception {
        registry.register(ServiceInstance.builder().name(service).id("1").endpoint("grpc://127.0.0.1:9001").build());
        GatedRegistry stalled = new GatedRegistry(registry, false);
        long start = System.nanoTime();
        Reports reports = start(DiscoveryNameResolverProvider.builder(stalled)
                .firstListWait(Duration.ofMillis(300)).build());
        Status late = reports.nextError();
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofMillis(300));
        assertThat(late.getDescription()).isEqualTo("no instance of service '" + service + "' to call: registry "
                + stalled + " did not answer within 300 ms (unreachable?); nothing is known yet");

        stalled.answer();
        assertThat(reports.nextAddresses()).hasSize(1);
    }

    @Test
    void aRegistryThatFailsToWatchIsNamedAtOnceAndRetried() throws Exception {
        GatedRegistry failing = new GatedRegistry(registry, true);
        failing.failWatches = new RegistryUnavailableException("watch greeter failed on etcd at 10.0.0.1:2379: "
                + "connection refused", new java.net.ConnectException("Connection refused"));
        Reports reports = start(DiscoveryNameResolverProvider.of(failing));
        Status error = reports.nextError();
        assertThat(error.getDescription()).contains("registry " + failing + " is unreachable",
                "connection refused");

        registry.register(ServiceInstance.builder().name(service).id("1").endpoint("grpc://127.0.0.1:9001").build());
        failing.failWatches = null;
        assertThat(reports.nextAddresses()).hasSize(1); // the watch was tried again, with backoff
        assertThat(failing.watches.get()).isGreaterThan(1);
    }

    @Test
    void refreshReportsTheCurrentStateAgain() throws Exception {
        registry.register(ServiceInstance.builder().name(service).id("1").endpoint("grpc://127.0.0.1:9001").build());
        Reports reports = start(DiscoveryNameResolverProvider.of(registry));
        List<EquivalentAddressGroup> first = reports.nextAddresses();
        sync.execute(reports.resolver::refresh);
        assertThat(reports.nextAddresses()).isEqualTo(first);
    }

    @Test
    void resolversOfOneServiceShareOneWatchThreadThatEndsWithTheLast() throws Exception {
        registry.register(ServiceInstance.builder().name(service).id("1").endpoint("grpc://127.0.0.1:9001").build());
        ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
        DiscoveryNameResolverProvider provider = DiscoveryNameResolverProvider.of(registry);
        Reports one = start(provider);
        Reports two = start(provider);
        assertThat(one.nextAddresses()).isEqualTo(two.nextAddresses());
        assertThat(watchThreads()).containsExactly("roster-grpc-watch-" + service + "-1");

        sync.execute(one.resolver::shutdown);
        assertThat(watchThreads()).hasSize(1);
        sync.execute(two.resolver::shutdown);
        before.assertNoNewThreads(Duration.ofSeconds(5), t -> !t.getName().startsWith("roster-grpc"));
    }

    @Test
    void aClosedRegistryIsNamedWhenNothingIsKnown() throws Exception {
        Registry closed = Registries.open("mem://closed-" + UUID.randomUUID());
        closed.close();
        assertThat(start(DiscoveryNameResolverProvider.of(closed)).nextError().getDescription())
                .contains("registry " + closed + " is closed");
    }

    private static List<String> watchThreads() {
        List<String> names = new ArrayList<>();
        for (Thread thread : Thread.getAllStackTraces().keySet()) {
            if (thread.isAlive() && thread.getName().startsWith("roster-grpc-watch")) {
                names.add(thread.getName());
            }
        }
        return names;
    }

    private Reports start(DiscoveryNameResolverProvider provider) {
        NameResolver resolver = provider.newNameResolver(URI.create("discovery:///" + service), args());
        Reports reports = new Reports(resolver);
        started.add(resolver);
        sync.execute(() -> resolver.start(reports));
        return reports;
    }

    private NameResolver.Args args() {
        return NameResolver.Args.newBuilder()
                .setDefaultPort(443)
                .setProxyDetector(address -> null)
                .setSynchronizationContext(sync)
                .setScheduledExecutorService(scheduler)
                .setServiceConfigParser(new NameResolver.ServiceConfigParser() {
                    @Override
                    public NameResolver.ConfigOrError parseServiceConfig(Map<String, ?> config) {
                        return NameResolver.ConfigOrError.fromConfig(config);
                    }
                })
                .build();
    }

    /** Records what a resolver reports. */
    private static final class Reports extends NameResolver.Listener2 {
        final NameResolver resolver;
        private final BlockingQueue<StatusOr<List<EquivalentAddressGroup>>> results = new LinkedBlockingQueue<>();

        Reports(NameResolver resolver) {
            this.resolver = resolver;
        }

        @Override
        public void onResult(NameResolver.ResolutionResult result) {
            onResult2(result);
        }

        @Override
        public Status onResult2(NameResolver.ResolutionResult result) {
            results.add(result.getAddressesOrError());
            return Status.OK;
        }

        @Override
        public void onError(Status error) {
            results.add(StatusOr.fromStatus(error));
        }

        StatusOr<List<EquivalentAddressGroup>> next() throws InterruptedException {
            StatusOr<List<EquivalentAddressGroup>> next = results.poll(10, TimeUnit.SECONDS);
            assertThat(next).as("a report within 10 s").isNotNull();
            return next;
        }

        List<EquivalentAddressGroup> nextAddresses() throws InterruptedException {
            StatusOr<List<EquivalentAddressGroup>> next = next();
            assertThat(next.hasValue()).as("addresses, not %s", next).isTrue();
            return next.getValue();
        }

        Status nextError() throws InterruptedException {
            StatusOr<List<EquivalentAddressGroup>> next = next();
            assertThat(next.hasValue()).as("an error, not %s", next).isFalse();
            return next.getStatus();
        }
    }
}
