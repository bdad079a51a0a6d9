package io.roster.benchmarks;

import io.grpc.Attributes;
import io.grpc.CallOptions;
import io.grpc.ChannelLogger;
import io.grpc.ClientStreamTracer;
import io.grpc.ConnectivityState;
import io.grpc.ConnectivityStateInfo;
import io.grpc.EquivalentAddressGroup;
import io.grpc.LoadBalancer;
import io.grpc.LoadBalancerProvider;
import io.grpc.LoadBalancerRegistry;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.SynchronizationContext;
import io.roster.ServiceInstance;
import io.roster.grpc.RosterAttributes;
import io.roster.grpc.RosterLoadBalancerProvider;
import io.roster.grpc.RosterPolicy;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The cost of a pick inside grpc: {@code SubchannelPicker.pickSubchannel} of the {@code roster} policy (each
 * {@code io.roster.select} balancer) beside grpc's own {@code round_robin}, on 10, 100 and 1 000 READY subchannels,
 * as the channel calls it for every RPC. The policies run with a helper of the benchmark's whose subchannels are
 * READY at once (no network): what is measured is the picker alone.
 *
 * <ul>
 *   <li>{@code pick}, {@code pickTwoThreads}: {@code pickSubchannel} only.</li>
 *   <li>{@code call}: a pick plus what grpc does with its result for every stream: the tracer factory's
 *       {@code newClientStreamTracer} and {@code streamClosed(OK)}, for the policies whose result carries one (the
 *       load-aware ones: P2C and least-requests count the call and time it); for the others the same as
 *       {@code pick}.</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class GrpcPickBenchmark {
    /** {@code grpc:<policy>} for grpc's own, {@code roster:<balancer>} for the roster policy. */
    @Param({"grpc:round_robin", "roster:round_robin", "roster:random", "roster:weighted_round_robin",
            "roster:power_of_two_choices", "roster:least_request"})
    public String policy;

    @Param({"10", "100", "1000"})
    public int instances;

    private final BenchHelper helper = new BenchHelper();
    private final Args args = new Args();
    private final ClientStreamTracer.StreamInfo streamInfo = ClientStreamTracer.StreamInfo.newBuilder().build();
    private final Metadata headers = new Metadata();
    private LoadBalancer balancer;
    private LoadBalancer.SubchannelPicker picker;

    @Setup
    public void setUp() {
        String[] parts = policy.split(":", 2);
        boolean roster = parts[0].equals("roster");
        LoadBalancerProvider provider = LoadBalancerRegistry.getDefaultRegistry()
                .getProvider(roster ? RosterLoadBalancerProvider.POLICY_NAME : parts[1]);
        Object config = roster ? RosterPolicy.builder().balancer(parts[1]).build()
                : provider.parseLoadBalancingPolicyConfig(Map.of()).getConfig();
        List<EquivalentAddressGroup> groups = new ArrayList<>(instances);
        for (int i = 0; i < instances; i++) {
            String host = "10.0." + (i / 250) + "." + (i % 250 + 1);
            ServiceInstance instance = ServiceInstance.builder().name("greeter").id("greeter-" + i)
                    .metadata("weight", String.valueOf(50 + 50 * (i % 4))).endpoint("grpc://" + host + ":9000").build();
            URI endpoint = instance.endpoints().get(0);
            groups.add(new EquivalentAddressGroup(InetSocketAddress.createUnresolved(host, 9000), Attributes.newBuilder()
                    .set(RosterAttributes.INSTANCE, instance).set(RosterAttributes.ENDPOINT, endpoint).build()));
        }
        balancer = provider.newLoadBalancer(helper);
        helper.sync.execute(() -> balancer.acceptResolvedAddresses(LoadBalancer.ResolvedAddresses.newBuilder()
                .setAddresses(groups).setLoadBalancingPolicyConfig(config).build()));
        helper.readyAll();
        picker = helper.picker;
        if (helper.state != ConnectivityState.READY || picker.pickSubchannel(args).getSubchannel() == null) {
            throw new IllegalStateException(policy + " did not come up READY: " + helper.state);
        }
    }

    @TearDown
    public void tearDown() {
        helper.sync.execute(balancer::shutdown);
        helper.scheduler.shutdownNow();
    }

    @Benchmark
    @Threads(1)
    public LoadBalancer.PickResult pick() {
        return picker.pickSubchannel(args);
    }

    @Benchmark
    @Threads(2)
    public LoadBalancer.PickResult pickTwoThreads() {
        return picker.pickSubchannel(args);
    }

    @Benchmark
    @Threads(1)
    public LoadBalancer.PickResult call() {
        LoadBalancer.PickResult result = picker.pickSubchannel(args);
        ClientStreamTracer.Factory factory = result.getStreamTracerFactory();
        if (factory != null) {
            factory.newClientStreamTracer(streamInfo, headers).streamClosed(Status.OK);
        }
        return result;
    }

    /** A channel's helper without a channel: subchannels that become READY when told. */
    static final class BenchHelper extends LoadBalancer.Helper {
        final SynchronizationContext sync = new SynchronizationContext((t, e) -> {
            throw new IllegalStateException(e);
        });
        final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
        final List<BenchSubchannel> subchannels = new ArrayList<>();
        ConnectivityState state;
        LoadBalancer.SubchannelPicker picker;

        @Override
        public LoadBalancer.Subchannel createSubchannel(LoadBalancer.CreateSubchannelArgs args) {
            BenchSubchannel subchannel = new BenchSubchannel(args);
            subchannels.add(subchannel);
            return subchannel;
        }

        void readyAll() {
            for (BenchSubchannel subchannel : new ArrayList<>(subchannels)) {
                sync.execute(() -> subchannel.listener.onSubchannelState(
                        ConnectivityStateInfo.forNonError(ConnectivityState.READY)));
            }
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
        public ScheduledExecutorService getScheduledExecutorService() {
            return scheduler;
        }

        @Override
        public ChannelLogger getChannelLogger() {
            return new ChannelLogger() {
                @Override
                public void log(ChannelLogLevel level, String message) {
                }

                @Override
                public void log(ChannelLogLevel level, String messageFormat, Object... args) {
                }
            };
        }

        @Override
        public ManagedChannel createOobChannel(EquivalentAddressGroup eag, String authority) {
            throw new UnsupportedOperationException();
        }

        @Override
        public String getAuthority() {
            return "greeter";
        }
    }

    static final class BenchSubchannel extends LoadBalancer.Subchannel {
        private final LoadBalancer.CreateSubchannelArgs args;
        private List<EquivalentAddressGroup> addresses;
        LoadBalancer.SubchannelStateListener listener;

        BenchSubchannel(LoadBalancer.CreateSubchannelArgs args) {
            this.args = args;
            this.addresses = args.getAddresses();
        }

        @Override
        public void start(LoadBalancer.SubchannelStateListener listener) {
            this.listener = listener;
        }

        @Override
        public void shutdown() {
        }

        @Override
        public void requestConnection() {
        }

        @Override
        public List<EquivalentAddressGroup> getAllAddresses() {
            return addresses;
        }

        @Override
        public void updateAddresses(List<EquivalentAddressGroup> newAddresses) {
            addresses = newAddresses;
        }

        @Override
        public Attributes getAttributes() {
            return args.getAttributes();
        }
    }

    /** What the channel passes to a picker; neither picker reads it. */
    static final class Args extends LoadBalancer.PickSubchannelArgs {
        private static final MethodDescriptor.Marshaller<Object> NONE = new MethodDescriptor.Marshaller<>() {
            @Override
            public InputStream stream(Object value) {
                throw new UnsupportedOperationException();
            }

            @Override
            public Object parse(InputStream stream) {
                throw new UnsupportedOperationException();
            }
        };
        private static final MethodDescriptor<Object, Object> METHOD = MethodDescriptor.newBuilder(NONE, NONE)
                .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName("bench.Greeter/Hello").build();
        private final Metadata headers = new Metadata();

        @Override
        public CallOptions getCallOptions() {
            return CallOptions.DEFAULT;
        }

        @Override
        public Metadata getHeaders() {
            return headers;
        }

        @Override
        public MethodDescriptor<?, ?> getMethodDescriptor() {
            return METHOD;
        }
    }
}
