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
            Node choose(Node first, Node second) {
                return second.stats.inFlight() < first.stats.inFlight() ? second : first;
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
