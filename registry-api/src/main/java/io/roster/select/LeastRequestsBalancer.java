package io.roster.select;

import java.util.List;

/** {@link Balancer#leastRequests()}. */
final class LeastRequestsBalancer implements Balancer {
    static final LeastRequestsBalancer INSTANCE = new LeastRequestsBalancer();

    private LeastRequestsBalancer() {
    }

    @Override
    public Picker picker(List<Node> nodes, Picker previous) {
        return new TwoChoicePicker(nodes) {
            @Override
            boolean choose(NodeStats first, NodeStats second, long now) {
                return second.inFlight() < first.inFlight();
            }
        };
    }

    @Override
    public boolean tracksLoad() {
        return true;
    }

    @Override
    public String toString() {
        return "least-requests";
    }
}
