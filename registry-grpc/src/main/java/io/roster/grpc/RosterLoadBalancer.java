package io.roster.grpc;

import io.grpc.ClientStreamTracer;
import io.grpc.ConnectivityState;
import io.grpc.ConnectivityStateInfo;
import io.grpc.EquivalentAddressGroup;
import io.grpc.LoadBalancer;
import io.grpc.Metadata;
import io.grpc.Status;
import io.roster.ServiceInstance;
import io.roster.select.Filter;
import io.roster.select.Node;
import io.roster.select.Selector;

import java.net.SocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The {@code roster} policy of one channel (see {@link RosterLoadBalancerProvider}). Runs on the channel's
 * synchronization context, like every grpc policy.
 *
 * <p>One subchannel per resolved address that passes the policy's version and metadata requirements. A
 * {@link Selector} (built with {@code build()}, fed with {@code update(list)}) holds the instances whose
 * subchannels are READY, after the policy's preferences; each such update also rebuilds the picker's table from
 * {@link Selector#nodes()} to a ready-made {@link PickResult} per node. A pick is then {@link Selector#pick()} (no
 * allocation, no counting) and one identity-map lookup; for load-aware balancers the result carries the node's
 * {@link ClientStreamTracer.Factory}, whose tracer counts the call at stream start ({@link Node#callStarted()}, as
 * grpc's own least_request counts) and reports its outcome and latency when the stream closes
 * ({@link Node#callFinished(long, boolean)}): grpc calls {@code streamClosed} once per stream, so every count is
 * matched.
 */
final class RosterLoadBalancer extends LoadBalancer {
    private final Helper helper;
    /** The subchannels, by address, in resolver order. */
    private final Map<List<SocketAddress>, Child> children = new LinkedHashMap<>();
    private RosterPolicy policy;
    private Selector selector;
    /** Why there is nothing to call (resolver error, requirements that no instance meets); null otherwise. */
    private Status failure;
    private boolean shutdown;

    RosterLoadBalancer(Helper helper) {
        this.helper = helper;
    }

    @Override
    public Status acceptResolvedAddresses(ResolvedAddresses resolved) {
        if (shutdown) {
            return Status.OK;
        }
        List<EquivalentAddressGroup> groups = resolved.getAddresses();
        if (groups.isEmpty()) {
            Status none = Status.UNAVAILABLE.withDescription("no instance of service '" + helper.getAuthority()
                    + "' to call: the resolver returned no address");
            handleNameResolutionError(none);
            return none;
        }
        List<ServiceInstance> instances = new ArrayList<>(groups.size());
        Map<ServiceInstance, EquivalentAddressGroup> groupOf = new IdentityHashMap<>();
        String scheme = null;
        for (EquivalentAddressGroup group : groups) {
            ServiceInstance instance = group.getAttributes().get(RosterAttributes.INSTANCE);
            URI endpoint = group.getAttributes().get(RosterAttributes.ENDPOINT);
            if (instance == null || endpoint == null) {
                Status foreign = Status.UNAVAILABLE.withDescription("the roster policy needs addresses from a Roster "
                        + "resolver (discovery:///<service>); " + group.getAddresses() + " of " + helper.getAuthority()
                        + " carries no instance");
                handleNameResolutionError(foreign);
                return foreign;
            }
            instances.add(instance);
            groupOf.put(instance, group);
            scheme = endpoint.getScheme();
        }
        String service = instances.get(0).name();
        Object config = resolved.getLoadBalancingPolicyConfig();
        RosterPolicy next = config instanceof RosterPolicy ? (RosterPolicy) config : RosterPolicy.defaults();
        if (selector == null || !next.equals(policy) || !selector.scheme().equals(scheme)
                || !selector.service().equals(service)) {
            if (selector != null) {
                selector.close();
            }
            policy = next;
            Selector.Builder builder = Selector.builder(service, scheme).balancer(policy.balancer());
            policy.preferences().forEach(builder::filter);
            selector = builder.build();
        }

        List<ServiceInstance> kept = instances;
        for (Filter requirement : policy.requirements()) {
            kept = requirement.apply(kept);
        }
        failure = kept.isEmpty() ? noneMeets(service, instances) : null;
        Map<List<SocketAddress>, Child> wanted = new LinkedHashMap<>();
        for (ServiceInstance instance : kept) {
            EquivalentAddressGroup group = groupOf.get(instance);
            if (group == null) {
                continue; // only a filter that adds instances could get here
            }
            Child child = children.remove(group.getAddresses());
            if (child == null) {
                child = new Child(group, instance);
            } else {
                child.update(group, instance);
            }
            wanted.put(group.getAddresses(), child);
        }
        for (Child gone : children.values()) {
            gone.shutdown();
        }
        children.clear();
        children.putAll(wanted);
        for (Child child : wanted.values()) {
            child.startIfNew();
        }
        updateState();
        return Status.OK;
    }

    /**
     * A Roster resolver reports an error only when there is nothing to call (no instance, none usable, registry
     * unreachable and nothing known), so the policy drops its subchannels and fails RPCs with the resolver's
     * description, as grpc's pick_first does with any resolver error.
     */
    @Override
    public void handleNameResolutionError(Status error) {
        if (shutdown) {
            return;
        }
        for (Child child : children.values()) {
            child.shutdown();
        }
        children.clear();
        failure = error;
        updateState();
    }

    @Override
    public void requestConnection() {
        for (Child child : children.values()) {
            child.subchannel.requestConnection();
        }
    }

    @Override
    public void shutdown() {
        shutdown = true;
        for (Child child : children.values()) {
            child.shutdown();
        }
        children.clear();
        if (selector != null) {
            selector.close();
        }
    }

    /** Publishes the state and picker the children's states call for. */
    private void updateState() {
        if (shutdown) {
            return;
        }
        if (failure != null) {
            if (selector != null) {
                selector.update(List.of());
            }
            helper.updateBalancingState(ConnectivityState.TRANSIENT_FAILURE,
                    new FixedResultPicker(PickResult.withError(failure)));
            return;
        }
        List<ServiceInstance> ready = new ArrayList<>(children.size());
        Map<ServiceInstance, Subchannel> readySubchannels = new IdentityHashMap<>();
        boolean connecting = false;
        Status lastFailure = null;
        for (Child child : children.values()) {
            if (child.state == ConnectivityState.READY) {
                ready.add(child.instance);
                readySubchannels.put(child.instance, child.subchannel);
            } else if (child.failing) {
                lastFailure = child.lastFailure;
            } else {
                connecting = true;
            }
        }
        selector.update(ready);
        if (!ready.isEmpty()) {
            helper.updateBalancingState(ConnectivityState.READY, picker(readySubchannels));
        } else if (connecting) {
            helper.updateBalancingState(ConnectivityState.CONNECTING, new FixedResultPicker(PickResult.withNoResult()));
        } else {
            Status unreachable = Status.UNAVAILABLE.withDescription("no instance of service '" + selector.service()
                    + "' reachable: the connections to all " + children.size() + " failed"
                    + (lastFailure == null ? "" : ", the last with " + lastFailure.getCode()
                    + (lastFailure.getDescription() == null ? "" : ": " + lastFailure.getDescription())))
                    .withCause(lastFailure == null ? null : lastFailure.getCause());
            helper.updateBalancingState(ConnectivityState.TRANSIENT_FAILURE,
                    new FixedResultPicker(PickResult.withError(unreachable)));
        }
    }

    /** The picker of the selector's current nodes: one ready-made result per node. */
    private RosterPicker picker(Map<ServiceInstance, Subchannel> readySubchannels) {
        boolean tracked = policy.balancer().tracksLoad();
        List<Node> nodes = selector.nodes();
        IdentityHashMap<Node, PickResult> results = new IdentityHashMap<>(nodes.size() * 2);
        for (Node node : nodes) {
            Subchannel subchannel = readySubchannels.get(node.instance());
            if (subchannel != null) {
                results.put(node, tracked
                        ? PickResult.withSubchannel(subchannel, new CallCounter(node))
                        : PickResult.withSubchannel(subchannel));
            }
        }
        return new RosterPicker(selector, results);
    }

    private Status noneMeets(String service, List<ServiceInstance> instances) {
        Set<String> versions = new TreeSet<>();
        for (ServiceInstance instance : instances) {
            versions.add(instance.version().isEmpty() ? "(none)" : instance.version());
        }
        return Status.UNAVAILABLE.withDescription("no instance of service '" + service + "' to call: "
                + instances.size() + " instance(s) resolved, none meets " + policy.requirements()
                + " (versions listed: " + String.join(", ", versions) + ")");
    }

    /** Whether a call's outcome says the instance is in trouble, rather than the call or the caller. */
    static boolean failed(Status status) {
        switch (status.getCode()) {
            case UNAVAILABLE:
            case DEADLINE_EXCEEDED:
            case INTERNAL:
            case UNKNOWN:
            case RESOURCE_EXHAUSTED:
            case DATA_LOSS:
                return true;
            default:
                return false;
        }
    }

    /** One address's subchannel and the instance behind it. */
    private final class Child implements SubchannelStateListener {
        final Subchannel subchannel;
        EquivalentAddressGroup group;
        ServiceInstance instance;
        ConnectivityState state = ConnectivityState.IDLE;
        /** Sticky: set by TRANSIENT_FAILURE, cleared only by READY (reconnect attempts in between stay failing). */
        boolean failing;
        Status lastFailure;
        private boolean started;
        private boolean gone;

        Child(EquivalentAddressGroup group, ServiceInstance instance) {
            this.group = group;
            this.instance = instance;
            this.subchannel = helper.createSubchannel(CreateSubchannelArgs.newBuilder().setAddresses(group).build());
        }

        void startIfNew() {
            if (!started) {
                started = true;
                subchannel.start(this);
                subchannel.requestConnection();
            }
        }

        /** A new resolution of the same address: new attributes (metadata, version, weight) reach the subchannel. */
        void update(EquivalentAddressGroup newGroup, ServiceInstance newInstance) {
            instance = newInstance;
            if (!newGroup.equals(group)) {
                group = newGroup;
                subchannel.updateAddresses(List.of(newGroup));
            }
        }

        void shutdown() {
            gone = true;
            subchannel.shutdown();
        }

        @Override
        public void onSubchannelState(ConnectivityStateInfo info) {
            if (gone || shutdown || info.getState() == ConnectivityState.SHUTDOWN) {
                return;
            }
            state = info.getState();
            switch (state) {
                case READY:
                    failing = false;
                    break;
                case TRANSIENT_FAILURE:
                    failing = true;
                    lastFailure = info.getStatus();
                    break;
                case IDLE:
                    subchannel.requestConnection(); // keep every listed instance connected, as round_robin does
                    break;
                default:
                    break;
            }
            updateState();
        }
    }

    /** Picks with the selector; everything a pick returns was made when the list was applied. */
    static final class RosterPicker extends SubchannelPicker {
        private final Selector selector;
        private final IdentityHashMap<Node, PickResult> results;

        RosterPicker(Selector selector, IdentityHashMap<Node, PickResult> results) {
            this.selector = selector;
            this.results = results;
        }

        @Override
        public PickResult pickSubchannel(PickSubchannelArgs args) {
            Node node;
            try {
                node = selector.pick();
            } catch (RuntimeException e) {
                // The selector moved on to a newer list (or closed) since this picker was made: its picker follows.
                return PickResult.withNoResult();
            }
            PickResult result = results.get(node);
            return result != null ? result : PickResult.withNoResult();
        }

        @Override
        public String toString() {
            return "RosterPicker{" + selector + '}';
        }
    }

    /** Counts the calls of one node, for the load-aware balancers. */
    static final class CallCounter extends ClientStreamTracer.Factory {
        private final Node node;

        CallCounter(Node node) {
            this.node = node;
        }

        @Override
        public ClientStreamTracer newClientStreamTracer(ClientStreamTracer.StreamInfo info, Metadata headers) {
            return new CallTracer(node, node.callStarted());
        }
    }

    /** One call: started when its stream was, finished when it closes. */
    private static final class CallTracer extends ClientStreamTracer {
        private final Node node;
        private final long started;

        CallTracer(Node node, long started) {
            this.node = node;
            this.started = started;
        }

        @Override
        public void streamClosed(Status status) {
            node.callFinished(started, !failed(status));
        }
    }
}
