package io.roster.select;

import io.roster.InvalidOptionException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.WatcherClosedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Picks one instance of a service per call: the client half of discovery. A selector holds the newest instance
 * list of one service, keeps the instances that have an endpoint of its scheme and pass its {@link Filter}s, and
 * lets a {@link Balancer} choose among them.
 *
 * <pre>{@code
 * try (Watcher watcher = registry.watch("greeter");
 *      Selector selector = Selector.builder("greeter", "grpc")
 *              .filter(Filter.version("v1.2.0"))
 *              .filter(Filter.prefer("zone", "eu-west-1a"))
 *              .balancer(Balancer.powerOfTwoChoices())
 *              .watch(watcher)) {
 *     try (Selection picked = selector.select()) {
 *         ... call picked.endpoint() ...
 *         picked.done(true);
 *     }
 * }
 * }</pre>
 *
 * <p>A selector is fed either by a {@link Watcher} ({@link Builder#watch(Watcher)}: a daemon thread named
 * {@code roster-select-<service>} applies each new list until {@link #close()}) or by the caller through
 * {@link #update(List)}. Until the first list has arrived, {@link #select()} throws
 * {@link NoAvailableInstanceException} saying so. Each list builds one immutable picker; {@link #select()} only
 * reads it, so selecting is lock-free (for the weighted round-robin balancer, see its notes) and never waits for
 * an update. Node statistics
 * and balancer state are keyed by instance identity and survive updates for the instances still listed.
 *
 * <p>Thread-safe. {@code select()} never blocks and never returns an instance that had left the list before the
 * call began.
 */
public final class Selector implements AutoCloseable {
    /** How long {@link Builder#watch(Watcher)} waits for the watcher's first list unless told otherwise. */
    public static final Duration DEFAULT_FIRST_LIST_WAIT = Duration.ofSeconds(5);

    private static final Logger log = LoggerFactory.getLogger(Selector.class);
    private static final Pattern SCHEME = Pattern.compile("[a-z][a-z0-9+.-]*");

    private final String service;
    private final String scheme;
    private final List<Filter> filters;
    private final Balancer balancer;
    private final boolean tracksLoad;
    /** The time of untimed selections; null when the balancer does not track load. */
    private final RecentTime recent;

    /** What {@link #select()} uses; replaced whole on every update. */
    private volatile Balancer.Picker picker;
    private volatile List<Node> nodes = List.of();

    private final Object updateLock = new Object();
    /** The last picker the balancer built, handed back to it as {@code previous}. Guarded by updateLock. */
    private Balancer.Picker built;
    /** Statistics of every listed node with the scheme, filtered out or not. Guarded by updateLock. */
    private Map<String, NodeStats> stats = Map.of();
    /** Guarded by updateLock. */
    private boolean closed;
    /** Guarded by updateLock. */
    private Thread follower;

    private Selector(Builder b) {
        this.service = b.service;
        this.scheme = b.scheme;
        this.filters = List.copyOf(b.filters);
        this.balancer = b.balancer;
        this.tracksLoad = balancer.tracksLoad();
        this.recent = tracksLoad ? new RecentTime() : null;
        this.picker = unavailable("no instance list received yet");
    }

    /**
     * Starts a selector.
     *
     * @param service the service name
     * @param scheme the endpoint scheme to call, such as {@code grpc}, {@code grpcs}, {@code http} or {@code https}
     * @return a builder; without further settings it balances round-robin and filters nothing
     * @throws io.roster.InvalidInstanceException when the service name cannot be read (blank, '/', '@@')
     * @throws InvalidOptionException when the scheme is null or not a lower-case URI scheme
     */
    public static Builder builder(String service, String scheme) {
        return new Builder(service, scheme);
    }

    /** Refuses a null argument as the other builder rules do: naming the option. */
    private static <T> T requireOption(T value, String option) {
        if (value == null) {
            throw new InvalidOptionException(option, option + " must not be null");
        }
        return value;
    }

    /**
     * Chooses an instance. Never blocks: before the first instance list has arrived (see
     * {@link Builder#watch(Watcher)}) it throws at once, as it does when no instance is left.
     *
     * <p>For balancers that {@linkplain Balancer#tracksLoad() track load} the selection counts as a call in flight
     * on its node until it is done or closed: use it with try-with-resources (see {@link Selection}).
     *
     * @return the chosen instance and endpoint; report the call's outcome through {@link Selection#done(boolean)}
     * @throws NoAvailableInstanceException when no instance is left to choose, or no list has arrived yet; the
     *     message names the service, the scheme and the filters, and says which
     * @throws IllegalStateException when the selector is closed
     */
    public Selection select() {
        Balancer.Picker p = picker;
        if (!tracksLoad) {
            return p.pick().untracked;
        }
        Node node = p instanceof TwoChoicePicker ? ((TwoChoicePicker) p).pick(recent.get()) : p.pick();
        return Selection.open(node, recent);
    }

    /**
     * Chooses a node without starting a call on it: for integrations that keep each call's state themselves and
     * report it through {@link Node#callStarted()} and {@link Node#callFinished(long, boolean)}, so that nothing
     * is allocated per call whatever the balancer. Everyone else calls {@link #select()}.
     *
     * @return the chosen node
     * @throws NoAvailableInstanceException as {@link #select()}
     * @throws IllegalStateException when the selector is closed
     */
    public Node pick() {
        return picker.pick();
    }

    /**
     * Replaces the instance list. Called by the selector's own thread when it follows a watcher; callers that
     * manage lists themselves call it with every new full list. Ignored once the selector is closed.
     *
     * @param instances the full current list of the service's instances
     */
    public void update(List<ServiceInstance> instances) {
        if (instances == null) {
            throw new InvalidOptionException("instances", "instances must not be null");
        }
        synchronized (updateLock) {
            if (closed) {
                return;
            }
            // A new node counts as picked very long ago, so that the power-of-two-choices balancer tries it at the
            // next pick that draws it, even when that pick's time is a thread's last clock read from before now.
            long neverPicked = System.nanoTime() - (1L << 60);
            List<ServiceInstance> candidates = new ArrayList<>(instances.size());
            Map<String, NodeStats> nextStats = new HashMap<>(instances.size() * 2);
            for (ServiceInstance instance : instances) {
                Optional<URI> endpoint = instance.endpoint(scheme);
                if (endpoint.isPresent()) {
                    candidates.add(instance);
                    String key = key(instance, endpoint.get());
                    NodeStats known = stats.get(key);
                    nextStats.putIfAbsent(key, known != null ? known : new NodeStats(neverPicked));
                }
            }
            List<ServiceInstance> kept = Collections.unmodifiableList(candidates);
            for (Filter filter : filters) {
                kept = Objects.requireNonNull(filter.apply(kept), () -> "filter " + filter + " returned null");
            }
            List<Node> next = new ArrayList<>(kept.size());
            Set<String> seen = new HashSet<>(kept.size() * 2);
            for (ServiceInstance instance : kept) {
                Optional<URI> endpoint = instance.endpoint(scheme);
                if (endpoint.isEmpty()) {
                    continue; // only a filter that adds instances can get here
                }
                String key = key(instance, endpoint.get());
                if (seen.add(key)) { // a list with the same instance twice gets one node
                    NodeStats nodeStats = nextStats.computeIfAbsent(key, k -> new NodeStats(neverPicked));
                    next.add(new Node(instance, endpoint.get(), key, nodeStats, tracksLoad));
                }
            }
            List<Node> frozen = List.copyOf(next);
            Balancer.Picker nextPicker;
            if (frozen.isEmpty()) {
                nextPicker = unavailable(instances.size() + " instance(s) listed, " + candidates.size()
                        + " with a '" + scheme + "' endpoint, 0 left after the filters");
            } else {
                nextPicker = Objects.requireNonNull(balancer.picker(frozen, built), "balancer returned no picker");
                built = nextPicker;
            }
            stats = nextStats;
            nodes = frozen;
            picker = nextPicker;
        }
    }

    /**
     * Returns the current candidates: the listed instances with an endpoint of the scheme that passed the filters.
     *
     * @return an immutable list, in list order; empty before the first list
     */
    public List<Node> nodes() {
        return nodes;
    }

    /**
     * Returns the service name.
     *
     * @return the service this selector chooses from
     */
    public String service() {
        return service;
    }

    /**
     * Returns the scheme.
     *
     * @return the endpoint scheme this selector returns
     */
    public String scheme() {
        return scheme;
    }

    /**
     * Stops following the watcher, if any, and waits for its thread to end; the watcher itself stays open (it
     * belongs to the caller). Later {@link #select()} calls throw {@link IllegalStateException}. Idempotent.
     */
    @Override
    public void close() {
        Thread thread;
        synchronized (updateLock) {
            if (closed) {
                return;
            }
            closed = true;
            picker = () -> {
                throw new IllegalStateException("selector of service '" + service + "' is closed");
            };
            thread = follower;
        }
        if (thread != null && thread != Thread.currentThread()) {
            thread.interrupt();
            try {
                thread.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public String toString() {
        return "Selector{service=" + service + ", scheme=" + scheme + ", filters=" + filters + ", balancer="
                + balancer + ", nodes=" + nodes.size() + '}';
    }

    private static String key(ServiceInstance instance, URI endpoint) {
        return instance.name() + '/' + instance.id() + '/' + endpoint;
    }

    private Balancer.Picker unavailable(String why) {
        String message = "no instance of service '" + service + "' to select (scheme '" + scheme + "', filters "
                + filters + "): " + why;
        return () -> {
            throw new NoAvailableInstanceException(service, scheme, message);
        };
    }

    private void follow(Watcher watcher, boolean waitingForFirst) {
        Thread thread = new Thread(() -> run(watcher, waitingForFirst), "roster-select-" + service);
        thread.setDaemon(true);
        synchronized (updateLock) {
            if (closed) {
                return;
            }
            follower = thread;
            thread.start();
        }
    }

    private void run(Watcher watcher, boolean waitingForFirst) {
        boolean late = waitingForFirst;
        try {
            while (!Thread.currentThread().isInterrupted()) {
                List<ServiceInstance> list = watcher.next();
                try {
                    update(list);
                } catch (RuntimeException e) {
                    log.warn("Selector of service '{}' keeps its previous list: applying a new one failed", service, e);
                }
                if (late) {
                    late = false;
                    log.info("Selector of service '{}' got its first instance list ({} instance(s))", service,
                            list.size());
                }
            }
        } catch (InterruptedException e) {
            // close() stops us this way
        } catch (WatcherClosedException e) {
            log.debug("Selector of service '{}' stops: its watcher was closed", service);
        }
    }

    /**
     * Configures a {@link Selector}. Not thread-safe.
     */
    public static final class Builder {
        private final String service;
        private final String scheme;
        private final List<Filter> filters = new ArrayList<>();
        private Balancer balancer = Balancer.roundRobin();
        private Duration firstListWait = DEFAULT_FIRST_LIST_WAIT;

        private Builder(String service, String scheme) {
            // Selection reads what others registered: any name a registry can be asked for.
            this.service = ServiceInstance.requireReadableName(service);
            if (scheme == null || !SCHEME.matcher(scheme).matches()) {
                throw new InvalidOptionException("scheme", "scheme must be a lower-case URI scheme such as grpc or "
                        + "http (was " + (scheme == null ? "null" : "\"" + scheme + "\"") + ")");
            }
            this.scheme = scheme;
        }

        /**
         * Adds a filter; filters run in the order added.
         *
         * @param filter the filter
         * @return this builder
         */
        public Builder filter(Filter filter) {
            filters.add(requireOption(filter, "filter"));
            return this;
        }

        /**
         * Sets the balancer.
         *
         * @param balancer such as {@link Balancer#powerOfTwoChoices()}; {@link Balancer#roundRobin()} when unset
         * @return this builder
         */
        public Builder balancer(Balancer balancer) {
            this.balancer = requireOption(balancer, "balancer");
            return this;
        }

        /**
         * Sets how long {@link #watch(Watcher)} waits for the watcher's first list before it returns without one.
         *
         * @param wait at least zero (zero: do not wait, only take a list the watcher already holds);
         *     {@link Selector#DEFAULT_FIRST_LIST_WAIT} when unset
         * @return this builder
         * @throws InvalidOptionException when {@code wait} is null or negative
         */
        public Builder firstListWait(Duration wait) {
            if (wait == null || wait.isNegative()) {
                throw new InvalidOptionException("firstListWait",
                        "firstListWait must be zero or positive (was " + wait + ")");
            }
            this.firstListWait = wait;
            return this;
        }

        /**
         * Builds a selector fed by {@link Selector#update(List)}; until the first update, {@code select()} throws
         * {@link NoAvailableInstanceException}.
         *
         * @return the selector
         */
        public Selector build() {
            return new Selector(this);
        }

        /**
         * Builds a selector that follows a watcher: each list the watcher delivers is applied on a daemon thread
         * named {@code roster-select-<service>}, until the selector or the watcher is closed.
         *
         * <p>This waits up to {@link #firstListWait(Duration)} ({@link Selector#DEFAULT_FIRST_LIST_WAIT}, 5 s,
         * unless set) for the watcher's first list and applies it before returning: a reachable backend answers
         * well within that, so the selector can select at once. When the backend is unreachable at start-up the
         * watcher has no list to give; then this returns after the wait, logs a warning, and the selector takes
         * the first list whenever it arrives.
         *
         * <p>Until then {@link Selector#select()} throws {@link NoAvailableInstanceException} at once, saying that
         * no list has arrived yet. It does not wait: a caller on a request path should fail or fall back quickly
         * rather than hang on discovery, a waiting selector would pile up blocked threads during an outage, and a
         * caller that wants to wait longer at start-up says so here, once. A caller that must not start without
         * instances checks {@link Selector#nodes()} after this returns.
         *
         * @param watcher a watcher of this builder's service, used by this selector only; closing the selector
         *     does not close it
         * @return the selector, holding the current list unless none arrived within the wait
         * @throws InvalidOptionException when the watcher is null or follows another service
         * @throws io.roster.WatcherClosedException when the watcher is closed
         * @throws InterruptedException when interrupted while waiting for the first list
         */
        public Selector watch(Watcher watcher) throws InterruptedException {
            requireOption(watcher, "watcher");
            if (!watcher.service().equals(service)) {
                throw new InvalidOptionException("watcher", "the watcher follows service '" + watcher.service()
                        + "', not '" + service + "'");
            }
            Selector selector = build();
            Optional<List<ServiceInstance>> first = watcher.next(firstListWait);
            if (first.isPresent()) {
                selector.update(first.get());
            } else {
                log.warn("Selector of service '{}' got no instance list within {} (is the registry reachable?); "
                        + "select() fails until the list arrives", service, firstListWait);
            }
            selector.follow(watcher, first.isEmpty());
            return selector;
        }
    }
}
