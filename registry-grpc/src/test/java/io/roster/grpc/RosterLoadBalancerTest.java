package io.roster.grpc;

import com.sun.management.ThreadMXBean;
import io.grpc.Attributes;
import io.grpc.CallOptions;
import io.grpc.ClientStreamTracer;
import io.grpc.ConnectivityState;
import io.grpc.ConnectivityStateInfo;
import io.grpc.EquivalentAddressGroup;
import io.grpc.LoadBalancer;
import io.grpc.LoadBalancerRegistry;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.NameResolver;
import io.grpc.Status;
import io.grpc.SynchronizationContext;
import io.roster.ServiceInstance;
import io.roster.select.Node;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/** The policy on its own, with a helper and subchannels of the test's, so that states are the test's to set. */
class RosterLoadBalancerTest {
    private static final PickArgs ARGS = new PickArgs();
    private final FakeHelper helper = new FakeHelper();
    private final LoadBalancer balancer = new RosterLoadBalancerProvider().newLoadBalancer(helper);

    @Test
    void theProviderIsFoundByItsPolicyNameAndParsesItsConfig() {
        assertThat(LoadBalancerRegistry.getDefaultRegistry().getProvider("roster"))
                .isInstanceOf(RosterLoadBalancerProvider.class);
        RosterLoadBalancerProvider provider = new RosterLoadBalancerProvider();
        NameResolver.ConfigOrError parsed = provider.parseLoadBalancingPolicyConfig(
                Map.of("balancer", "p2c", "version", "v2"));
        assertThat(parsed.getConfig()).isEqualTo(RosterPolicy.builder().balancer("power_of_two_choices")
                .version("v2").build());
        NameResolver.ConfigOrError bad = provider.parseLoadBalancingPolicyConfig(Map.of("balancer", "fastest"));
        assertThat(bad.getError().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(bad.getError().getDescription()).contains("unknown balancer 'fastest'");
    }

    @Test
    void picksOnlyReadySubchannelsAndQueuesWhileNoneIs() {
        accept(RosterPolicy.defaults(), instance("a", "v1"), instance("b", "v1"));
        assertThat(helper.state).isEqualTo(ConnectivityState.CONNECTING);
        assertThat(helper.picker.pickSubchannel(ARGS).hasResult()).isFalse(); // queued until one is READY
        assertThat(helper.subchannel("a").connectionRequests).isEqualTo(1);

        helper.set("a", ConnectivityState.READY);
        assertThat(helper.state).isEqualTo(ConnectivityState.READY);
        for (int i = 0; i < 20; i++) {
            assertThat(helper.picker.pickSubchannel(ARGS).getSubchannel()).isSameAs(helper.subchannel("a"));
        }
        helper.set("b", ConnectivityState.READY);
        assertThat(picks(100)).containsOnlyKeys("a", "b").containsEntry("a", 50);
    }

    @Test
    void aPickAllocatesNothingBeyondWhatTheListAlreadyMade() {
        for (String balancerName : List.of("round_robin", "random", "weighted_round_robin", "p2c", "least_request")) {
            FakeHelper h = new FakeHelper();
            LoadBalancer lb = new RosterLoadBalancerProvider().newLoadBalancer(h);
            List<EquivalentAddressGroup> groups = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                groups.add(group(instance("n" + i, "v1")));
            }
            h.sync.execute(() -> lb.acceptResolvedAddresses(LoadBalancer.ResolvedAddresses.newBuilder()
                    .setAddresses(groups).setLoadBalancingPolicyConfig(RosterPolicy.builder().balancer(balancerName)
                            .build()).build()));
            for (int i = 0; i < 10; i++) {
                h.set("n" + i, ConnectivityState.READY);
            }
            LoadBalancer.SubchannelPicker picker = h.picker;
            LoadBalancer.PickResult first = picker.pickSubchannel(ARGS);
            for (int i = 0; i < 20_000; i++) {
                picker.pickSubchannel(ARGS); // warm-up
            }
            ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
            long before = threads.getThreadAllocatedBytes(Thread.currentThread().getId());
            for (int i = 0; i < 20_000; i++) {
                picker.pickSubchannel(ARGS);
            }
            long allocated = threads.getThreadAllocatedBytes(Thread.currentThread().getId()) - before;
            // Under a byte per pick on average (an object per pick would be 16 bytes or more): room for what the JVM
            // itself may charge to the thread now and then, none for a pick.
            assertThat(allocated).as(balancerName).isLessThan(20_000);
            assertThat(picker.pickSubchannel(ARGS).getSubchannel()).isNotNull();
            assertThat(first.getStreamTracerFactory() != null).as(balancerName + " tracks calls")
                    .isEqualTo(balancerName.equals("p2c") || balancerName.equals("least_request"));
            h.sync.execute(lb::shutdown);
        }
    }

    @Test
    void callsAreCountedFromStreamStartToStreamCloseForLeastRequest() {
        accept(RosterPolicy.builder().balancer("least_request").build(), instance("a", "v1"), instance("b", "v1"));
        helper.set("a", ConnectivityState.READY);
        helper.set("b", ConnectivityState.READY);
        LoadBalancer.PickResult onA = pickOf("a");
        ClientStreamTracer open = onA.getStreamTracerFactory().newClientStreamTracer(
                ClientStreamTracer.StreamInfo.newBuilder().build(), new Metadata());
        assertThat(picks(50)).containsOnlyKeys("b"); // a has a call in flight, b none

        open.streamClosed(Status.OK);
        assertThat(picks(200)).containsKeys("a", "b");
    }

    @Test
    void failedCallsLowerAnInstanceForPowerOfTwoChoices() {
        accept(RosterPolicy.builder().balancer("p2c").build(), instance("a", "v1"), instance("b", "v1"));
        helper.set("a", ConnectivityState.READY);
        helper.set("b", ConnectivityState.READY);
        // Both answer in no time; a fails with UNAVAILABLE, b succeeds (an application error such as NOT_FOUND
        // says the instance is fine).
        LoadBalancer.PickResult onA = pickOf("a");
        LoadBalancer.PickResult onB = pickOf("b");
        for (int i = 0; i < 20; i++) {
            call(onA, Status.UNAVAILABLE);
            call(onB, Status.NOT_FOUND);
        }
        Map<String, Integer> picks = picks(100);
        assertThat(picks.getOrDefault("a", 0)).isLessThan(10);
        assertThat(RosterLoadBalancer.failed(Status.DEADLINE_EXCEEDED)).isTrue();
        assertThat(RosterLoadBalancer.failed(Status.CANCELLED)).isFalse();
    }

    @Test
    void requirementsNoInstanceMeetsFailWithTheVersionsListed() {
        accept(RosterPolicy.builder().version("v3").build(), instance("a", "v1"), instance("b", "v2"));
        assertThat(helper.state).isEqualTo(ConnectivityState.TRANSIENT_FAILURE);
        Status status = helper.picker.pickSubchannel(ARGS).getStatus();
        assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(status.getDescription()).isEqualTo("no instance of service 'greeter' to call: 2 instance(s) "
                + "resolved, none meets [version=v3] (versions listed: v1, v2)");
        assertThat(helper.subchannels).isEmpty(); // no connection to instances it may not call
    }

    @Test
    void aResolutionErrorDropsTheSubchannelsAndFailsWithItsDescription() {
        accept(RosterPolicy.defaults(), instance("a", "v1"));
        helper.set("a", ConnectivityState.READY);
        Status none = Status.UNAVAILABLE.withDescription("no instance of service 'greeter' to call: ...");
        helper.sync.execute(() -> balancer.handleNameResolutionError(none));
        assertThat(helper.subchannel("a").shutdown).isTrue();
        assertThat(helper.state).isEqualTo(ConnectivityState.TRANSIENT_FAILURE);
        assertThat(helper.picker.pickSubchannel(ARGS).getStatus()).isSameAs(none);

        accept(RosterPolicy.defaults(), instance("a", "v1")); // recovers with the next addresses
        helper.set("a", ConnectivityState.READY);
        assertThat(helper.state).isEqualTo(ConnectivityState.READY);
    }

    @Test
    void allConnectionsFailingIsTransientFailureUntilOneIsReadyAndIdleReconnects() {
        accept(RosterPolicy.defaults(), instance("a", "v1"), instance("b", "v1"));
        helper.set("a", ConnectivityStateInfo.forTransientFailure(Status.UNAVAILABLE.withDescription("refused")));
        assertThat(helper.state).isEqualTo(ConnectivityState.CONNECTING); // b still trying
        helper.set("b", ConnectivityStateInfo.forTransientFailure(Status.UNAVAILABLE.withDescription("refused")));
        assertThat(helper.state).isEqualTo(ConnectivityState.TRANSIENT_FAILURE);
        assertThat(helper.picker.pickSubchannel(ARGS).getStatus().getDescription())
                .isEqualTo("no instance of service 'greeter' reachable: the connections to all 2 failed, the last "
                        + "with UNAVAILABLE: refused");
        helper.set("a", ConnectivityState.CONNECTING); // a reconnect attempt: still failing (sticky)
        assertThat(helper.state).isEqualTo(ConnectivityState.TRANSIENT_FAILURE);
        helper.set("a", ConnectivityState.READY);
        assertThat(helper.state).isEqualTo(ConnectivityState.READY);

        helper.set("a", ConnectivityState.IDLE);
        assertThat(helper.subchannel("a").connectionRequests).isEqualTo(2);
    }

    @Test
    void aMetadataOnlyChangeReachesTheSubchannelAndThePreferences() {
        RosterPolicy preferB = RosterPolicy.builder().prefer("zone", "b").build();
        ServiceInstance a = instance("a", "v1");
        ServiceInstance b = instance("b", "v1");
        accept(preferB, a, b);
        helper.set("a", ConnectivityState.READY);
        helper.set("b", ConnectivityState.READY);
        assertThat(picks(10)).containsOnlyKeys("a", "b"); // nobody in zone b: everybody

        ServiceInstance bInZoneB = b.toBuilder().metadata("zone", "b").build();
        accept(preferB, a, bInZoneB);
        assertThat(helper.subchannel("b").addresses.get(0).getAttributes().get(RosterAttributes.INSTANCE))
                .isEqualTo(bInZoneB);
        assertThat(helper.subchannel("b").shutdown).isFalse(); // the same connection
        assertThat(picks(10)).containsOnlyKeys("b");
    }

    @Test
    void addressesFromAnotherResolverAreRefusedByName() {
        EquivalentAddressGroup foreign = new EquivalentAddressGroup(new InetSocketAddress("127.0.0.1", 1));
        Status[] status = new Status[1];
        helper.sync.execute(() -> status[0] = balancer.acceptResolvedAddresses(LoadBalancer.ResolvedAddresses
                .newBuilder().setAddresses(List.of(foreign)).build()));
        assertThat(status[0].getDescription()).contains("needs addresses from a Roster resolver");
        assertThat(helper.state).isEqualTo(ConnectivityState.TRANSIENT_FAILURE);
    }

    private void accept(RosterPolicy policy, ServiceInstance... instances) {
        List<EquivalentAddressGroup> groups = new ArrayList<>();
        for (ServiceInstance instance : instances) {
            groups.add(group(instance));
        }
        helper.sync.execute(() -> balancer.acceptResolvedAddresses(LoadBalancer.ResolvedAddresses.newBuilder()
                .setAddresses(groups).setLoadBalancingPolicyConfig(policy).build()));
    }

    private LoadBalancer.PickResult pickOf(String id) {
        for (int i = 0; i < 1000; i++) {
            LoadBalancer.PickResult result = helper.picker.pickSubchannel(ARGS);
            if (((FakeSubchannel) result.getSubchannel()).id.equals(id)) {
                return result;
            }
        }
        return fail("%s never picked", id);
    }

    private static void call(LoadBalancer.PickResult result, Status outcome) {
        result.getStreamTracerFactory().newClientStreamTracer(ClientStreamTracer.StreamInfo.newBuilder().build(),
                new Metadata()).streamClosed(outcome);
    }

    private Map<String, Integer> picks(int n) {
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < n; i++) {
            LoadBalancer.PickResult result = helper.picker.pickSubchannel(ARGS);
            counts.merge(((FakeSubchannel) result.getSubchannel()).id, 1, Integer::sum);
        }
        return counts;
    }

    private static ServiceInstance instance(String id, String version) {
        int port = 9000 + Math.abs(id.hashCode() % 1000);
        return ServiceInstance.builder().name("greeter").id(id).version(version).endpoint("grpc://127.0.0.1:" + port)
                .build();
    }

    private static EquivalentAddressGroup group(ServiceInstance instance) {
        URI endpoint = instance.endpoints().get(0);
        return new EquivalentAddressGroup(new InetSocketAddress("127.0.0.1", endpoint.getPort()), Attributes.newBuilder()
                .set(RosterAttributes.INSTANCE, instance).set(RosterAttributes.ENDPOINT, endpoint)
                .set(RosterAttributes.WEIGHT, Node.DEFAULT_WEIGHT).build());
    }

    /** A helper whose subchannels and published state the test sees. */
    private static final class FakeHelper extends LoadBalancer.Helper {
        final SynchronizationContext sync = new SynchronizationContext((t, e) -> fail("uncaught", e));
        final Map<String, FakeSubchannel> subchannels = new HashMap<>();
        ConnectivityState state;
        LoadBalancer.SubchannelPicker picker;

        @Override
        public LoadBalancer.Subchannel createSubchannel(LoadBalancer.CreateSubchannelArgs args) {
            FakeSubchannel subchannel = new FakeSubchannel(args.getAddresses());
            subchannels.put(subchannel.id, subchannel);
            return subchannel;
        }

        @Override
        public void updateBalancingState(ConnectivityState newState, LoadBalancer.SubchannelPicker newPicker) {
            state = newState;
            picker = newPicker;
        }

        @Override
        public SynchronizationContext getSynchronizationContext() {
            return sync;
        }

        @Override
        public ManagedChannel createOobChannel(EquivalentAddressGroup eag, String authority) {
            throw new UnsupportedOperationException();
        }

        @Override
        public String getAuthority() {
            return "greeter";
        }

        FakeSubchannel subchannel(String id) {
            return subchannels.get(id);
        }

        void set(String id, ConnectivityState newState) {
            set(id, ConnectivityStateInfo.forNonError(newState));
        }

        void set(String id, ConnectivityStateInfo info) {
            sync.execute(() -> subchannel(id).listener.onSubchannelState(info));
        }
    }

    private static final class FakeSubchannel extends LoadBalancer.Subchannel {
        final String id;
        List<EquivalentAddressGroup> addresses;
        LoadBalancer.SubchannelStateListener listener;
        int connectionRequests;
        boolean shutdown;

        FakeSubchannel(List<EquivalentAddressGroup> addresses) {
            this.addresses = addresses;
            this.id = addresses.get(0).getAttributes().get(RosterAttributes.INSTANCE).id();
        }

        @Override
        public void start(LoadBalancer.SubchannelStateListener listener) {
            this.listener = listener;
        }

        @Override
        public void shutdown() {
            shutdown = true;
        }

        @Override
        public void requestConnection() {
            connectionRequests++;
        }

        @Override
        public List<EquivalentAddressGroup> getAllAddresses() {
            return addresses;
        }

        @Override
        public void updateAddresses(List<EquivalentAddressGroup> newAddresses) {
            this.addresses = newAddresses;
        }

        @Override
        public Attributes getAttributes() {
            return Attributes.EMPTY;
        }
    }

    /** What grpc passes to a picker; the picker reads none of it. */
    private static final class PickArgs extends LoadBalancer.PickSubchannelArgs {
        @Override
        public CallOptions getCallOptions() {
            return CallOptions.DEFAULT;
        }

        @Override
        public Metadata getHeaders() {
            return new Metadata();
        }

        @Override
        public MethodDescriptor<?, ?> getMethodDescriptor() {
            return Greeter.HELLO;
        }
    }
}
