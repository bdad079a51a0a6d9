package io.roster.nacos;

import com.alibaba.nacos.api.PropertyKeyConst;
import com.alibaba.nacos.api.common.Constants;
import com.alibaba.nacos.api.exception.NacosException;
import com.alibaba.nacos.api.naming.CommonParams;
import com.alibaba.nacos.api.naming.NamingFactory;
import com.alibaba.nacos.api.naming.NamingService;
import com.alibaba.nacos.api.naming.pojo.Instance;
import com.alibaba.nacos.api.naming.pojo.ListView;
import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.AbstractRegistry;
import io.roster.spi.Options;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.RegistryUri;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * A registry on Nacos 2.2+ or 3.x, through nacos-client's gRPC naming client, in the layout Go Kratos uses: each
 * endpoint of an instance is one ephemeral Nacos instance of service {@code <name>.<scheme>} (group and cluster from
 * the options), with metadata {@code kind} and {@code version}, plus {@code roster.instance} and
 * {@code roster.schemes} keys that let Java consumers put the endpoints back together.
 * {@code getService("greeter")} and {@code watch("greeter")} return each instance once with the endpoints in the
 * discovery schemes; {@code getService("greeter.grpc")} returns that one service, as Go clients ask for it. Only
 * healthy, enabled instances with a positive weight are returned unless {@link Builder#healthyOnly(boolean)
 * healthyOnly(false)}.
 *
 * <p>Liveness is the client's gRPC connection: the server drops the instances of a connection that closes, and
 * nacos-client registers and subscribes again after it reconnects ("redo"). A Nacos connection holds one entry per
 * service, so this registry sends all the instances it has in one service together (a batch registration when
 * there are several) and sends the whole set again on every change. A deregistration that fails (the server is
 * unreachable) stays done in this registry's book and in nacos-client's redo cache, so it is finished when the
 * server is back and never undone; a periodic check of what the server holds catches what redo gets wrong.
 *
 * <pre>{@code
 * try (Registry registry = NacosRegistry.builder().serverAddr("10.0.0.1:8848").namespace("prod").build()) { ... }
 * // or Registries.open("nacos://10.0.0.1:8848?namespace=prod&group=DEFAULT_GROUP")
 * }</pre>
 */
public final class NacosRegistry extends AbstractRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(NacosRegistry.class);
    /** The shortest time a service stays checked for left-over ids after its last change. */
    private static final Duration MIN_LINGER = Duration.ofSeconds(30);
    /** Service names asked for per page by {@link #services()}. */
    private static final int SERVICES_PAGE = 500;

    private final NamingService naming;
    private final boolean ownsNaming;
    private final String group;
    private final NacosLayout layout;
    private final boolean healthyOnly;
    /** Runs watch events, the refresh after a reconnection and the periodic check of what the server holds. */
    private final ScheduledExecutorService scheduler;
    private final Executor events;
    private final Set<NacosWatch> watches = ConcurrentHashMap.newKeySet();
    private final NacosClientInternals client;
    /** How long a service stays checked for left-over ids after its last change (or the last re-send). */
    private final long lingerNanos;
    /** What this registry published, per Nacos service; guarded by registrationLock(). */
    private final Map<String, Published> published = new LinkedHashMap<>();

    private NacosRegistry(Builder b, NamingService naming, boolean ownsNaming, String description) {
        super(description);
        this.naming = naming;
        this.ownsNaming = ownsNaming;
        this.group = b.group;
        this.layout = new NacosLayout(b.cluster, b.weight, b.schemes);
        this.healthyOnly = b.healthyOnly;
        this.scheduler = DaemonThreadFactory.scheduler("roster-nacos");
        this.events = task -> {
            try {
                scheduler.execute(task);
            } catch (RejectedExecutionException e) {
                // closing: the watch is gone too
            }
        };
        long grace = b.reconnectGrace.toNanos();
        // When the grace period after a reconnection ends, watches apply the removals they held back.
        this.client = NacosClientInternals.attach(naming, b.reconnectGrace,
                () -> schedule(this::refreshWatches, grace + TimeUnit.MILLISECONDS.toNanos(50)));
        long verify = b.verifyInterval.toNanos();
        this.lingerNanos = Math.max(3 * verify, MIN_LINGER.toNanos());
        scheduler.scheduleWithFixedDelay(this::verify, verify, verify, TimeUnit.NANOSECONDS);
    }

    /**
     * Starts a builder.
     *
     * @return a builder with Kratos's defaults: group {@code DEFAULT_GROUP}, cluster {@code DEFAULT}, weight 100
     */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected void doRegister(ServiceInstance instance, ServiceInstance previous) {
        layout.check(instance);
        update(instance, byService(layout.parts(instance)), "register " + key(instance), true);
    }

    @Override
    protected void doDeregister(ServiceInstance instance, boolean owned) {
        if (owned) {
            update(instance, Map.of(), "deregister " + key(instance), false);
            return;
        }
        // Another client's ephemeral instance cannot be removed, and a deregister call for its service would remove
        // this connection's own entry instead. Only a removal of ours still pending is sent again.
        List<String> pending = new ArrayList<>();
        published.forEach((service, p) -> {
            if (p.name.equals(instance.name()) && p.retired.contains(instance.id())) {
                pending.add(service);
            }
        });
        if (pending.isEmpty()) {
            LOG.debug("{}: {} was not registered here, nothing to deregister", description(), key(instance));
            return;
        }
        try {
            for (String service : pending) {
                sync(service);
            }
        } catch (NacosException | RuntimeException e) {
            throw failure("deregister " + key(instance) + " (still pending)", e, "instance");
        }
    }

    @Override
    protected void deregisterAll(Collection<ServiceInstance> instances) {
        for (Map.Entry<String, Published> entry : new ArrayList<>(published.entrySet())) {
            entry.getValue().byId.clear();
            try {
                sync(entry.getKey());
            } catch (NacosException | RuntimeException e) {
                LOG.warn("{}: deregistering service {} on close failed, its instances go with the connection: {}",
                        description(), entry.getKey(), e.toString());
            }
        }
    }

    /**
     * Applies one instance's change to the services it is in or goes to, and sends each of them whole.
     *
     * @param instance the instance
     * @param mine its parts by service; empty to remove it
     * @param action what is done, for messages
     * @param undoOnFailure whether a failure puts the previous sets back (a registration the caller sees fail must
     *     not come alive later); a removal that fails stays done, and nacos-client's redo finishes it
     */
    private void update(ServiceInstance instance, Map<String, List<Instance>> mine, String action,
                        boolean undoOnFailure) {
        String key = key(instance);
        List<String> affected = new ArrayList<>(mine.keySet());
        published.forEach((service, p) -> {
            if (p.byId.containsKey(key) && !affected.contains(service)) {
                affected.add(service);
            }
        });
        Map<String, Published> before = new HashMap<>();
        for (String service : affected) {
            Published p = published.computeIfAbsent(service, s -> new Published(instance.name()));
            before.put(service, p.snapshot());
            if (mine.containsKey(service)) {
                p.byId.put(key, mine.get(service));
                p.retired.remove(instance.id());
            } else {
                p.byId.remove(key);
                p.retired.add(instance.id());
            }
            p.changed(System.nanoTime() + lingerNanos);
        }
        Exception failed = null;
        for (String service : affected) {
            try {
                sync(service);
            } catch (NacosException | RuntimeException e) {
                failed = failed == null ? e : failed;
                if (undoOnFailure) {
                    break; // all of them are sent again below
                }
                // Go on: each call also tells nacos-client's redo cache what its service must hold.
            }
        }
        if (failed == null) {
            return;
        }
        if (undoOnFailure) {
            // Put the previous sets back and send them again, so that what this registry, nacos-client's redo
            // cache and (once reachable) the server hold agree with the book, which keeps the previous state.
            for (String service : affected) {
                Published p = published.get(service);
                p.restore(before.get(service), System.nanoTime() + lingerNanos);
                try {
                    sync(service);
                } catch (NacosException | RuntimeException again) {
                    LOG.debug("{}: restoring service {} failed too: {}", description(), service, again.toString());
                }
                if (p.byId.isEmpty() && p.sent == Sent.NONE) {
                    published.remove(service);
                }
            }
            throw failure(action, failed, "instance");
        }
        RegistryException failure = failure(action, failed, "instance");
        if (failure instanceof RegistryUnavailableException) {
            throw new RegistryUnavailableException(failure.getMessage() + "; the removal stays pending and is "
                    + "finished when the server is reachable", failed);
        }
        throw failure;
    }

    /**
     * Sends this registry's whole set of one service: one instance with registerInstance, several with
     * batchRegisterInstance, none with deregisterInstance. nacos-client caches each call for its redo before sending
     * it, so the cache always holds the latest intent, whatever the outcome; {@link Published#sent} is updated first
     * too.
     */
    private void sync(String service) throws NacosException {
        Published p = published.get(service);
        List<Instance> all = p.all();
        if (all.size() > 1) {
            p.sent = Sent.BATCH;
            p.last = all;
            naming.batchRegisterInstance(service, group, copies(all));
            return;
        }
        if (all.size() == 1) {
            p.sent = Sent.SINGLE;
            p.last = all;
            naming.registerInstance(service, group, copy(all.get(0)));
            return;
        }
        if (p.sent == Sent.NONE) {
            return;
        }
        Exception failed = null;
        if (p.sent == Sent.BATCH) {
            // nacos-client turns a deregister of a batch into a batch of the others, and an empty batch would stay
            // in its redo cache, re-sent after every reconnect: go through a single instance, which the deregister
            // below then removes for good.
            p.last = List.of(p.last.get(0));
            try {
                naming.registerInstance(service, group, copy(p.last.get(0)));
            } catch (NacosException | RuntimeException e) {
                failed = e; // deregister anyway: the call also tells the redo cache not to register it again
            }
        }
        p.sent = Sent.REMOVED;
        naming.deregisterInstance(service, group, copy(p.last.get(0)));
        if (failed instanceof NacosException) {
            throw (NacosException) failed;
        } else if (failed != null) {
            throw (RuntimeException) failed;
        }
    }

    /**
     * Checks that the server holds exactly what this registry last sent for each of its services, and sends a
     * service again when it does not: either an instance of ours is missing, or the server holds an instance
     * carrying one of our ids that we did not send (or no longer have). nacos-client's redo re-sends its cache after
     * a reconnect, and a change that races with that re-send can leave the server with the older set, which redo
     * itself never corrects. A service stays checked for left-over ids for a while after its last change
     * (three intervals, at least 30 s), also after its last instance left. One query per service per interval;
     * nothing is sent while the server agrees, and nothing is checked while the connection is recovering, when
     * redo is at work.
     */
    private void verify() {
        try {
            if (!client.recovering()) {
                verifyOnce();
            }
        } catch (Throwable t) {
            LOG.error("{}: checking what the server holds failed, trying again at the next interval", description(),
                    t);
        }
    }

    private void verifyOnce() {
        List<Check> checks = new ArrayList<>();
        registrationLock().lock();
        try {
            if (isClosed()) {
                return;
            }
            published.forEach((service, p) -> checks.add(new Check(service, p.version, p.all(), p.ids())));
        } finally {
            registrationLock().unlock();
        }
        for (Check check : checks) {
            List<Instance> onServer;
            try {
                onServer = naming.getAllInstances(check.service, group, List.of(), false);
            } catch (NacosException | RuntimeException e) {
                // Unreachable: redo re-sends everything once reconnected, and the next check verifies that.
                LOG.debug("{}: checking service {} failed: {}", description(), check.service, e.toString());
                return;
            }
            String problem = disagreement(check, onServer);
            registrationLock().lock();
            try {
                Published p = published.get(check.service);
                if (isClosed() || p == null || p.version != check.version) {
                    continue; // changed meanwhile, so it was just sent; the next check covers it
                }
                if (problem == null) {
                    p.reported = false;
                    if (System.nanoTime() - p.lingerUntil > 0) {
                        p.retired.clear();
                        if (p.byId.isEmpty()) {
                            published.remove(check.service);
                        }
                    }
                    continue;
                }
                if (!p.reported) {
                    LOG.warn("{}: the server does not hold what this registry sent for {} ({}); sending it again",
                            description(), check.service, problem);
                } else {
                    LOG.debug("{}: still {} on {}; sending it again", description(), problem, check.service);
                }
                p.reported = true;
                p.lingerUntil = System.nanoTime() + lingerNanos;
                sync(check.service);
            } catch (NacosException | RuntimeException e) {
                LOG.debug("{}: sending {} again failed: {}", description(), check.service, e.toString());
            } finally {
                registrationLock().unlock();
            }
        }
    }

    /** What differs between what we sent and the server, or {@code null} when it holds exactly ours. */
    private static String disagreement(Check check, List<Instance> onServer) {
        List<String> differences = new ArrayList<>();
        for (Instance mine : check.expected) {
            if (onServer.stream().noneMatch(s -> same(mine, s))) {
                differences.add("missing " + mine.getMetadata().get(NacosLayout.INSTANCE_KEY));
            }
        }
        for (Instance s : onServer) {
            Optional<String> id = NacosLayout.rosterId(s);
            if (id.isPresent() && check.ids.contains(id.get()) && check.expected.stream().noneMatch(m -> same(m, s))) {
                differences.add("left over " + s.getMetadata().get(NacosLayout.INSTANCE_KEY));
            }
        }
        return differences.isEmpty() ? null : String.join(", ", differences);
    }

    private static boolean same(Instance a, Instance b) {
        return Objects.equals(a.getIp(), b.getIp()) && a.getPort() == b.getPort()
                && Objects.equals(a.getClusterName(), b.getClusterName())
                && Objects.equals(a.getMetadata(), b.getMetadata());
    }

    @Override
    protected List<ServiceInstance> doGetService(String name) {
        NacosLayout.checkName(name);
        Map<NacosLayout.Target, List<Instance>> lists = new LinkedHashMap<>();
        for (NacosLayout.Target target : layout.targets(name)) {
            try {
                lists.put(target, visible(naming.getAllInstances(target.service(), group, List.of(), false)));
            } catch (NacosException | RuntimeException e) {
                throw failure("getService " + name, e, "name");
            }
        }
        return layout.merge(name, lists, Map.of());
    }

    /**
     * Lists the services of the group with at least one visible instance. Nacos keeps a service whose last
     * instance left for a while (a minute by default) and lists it meanwhile, so each listed service is asked for
     * its instances; {@code <name>.<scheme>} of a discovery scheme is listed as {@code <name>}.
     */
    @Override
    protected Collection<String> doServices() {
        Set<String> names = new TreeSet<>();
        try {
            Set<String> onServer = new LinkedHashSet<>();
            for (int page = 1; ; page++) {
                ListView<String> view = naming.getServicesOfServer(page, SERVICES_PAGE, group);
                List<String> data = view.getData() == null ? List.of() : view.getData();
                onServer.addAll(data);
                if (data.size() < SERVICES_PAGE || (long) page * SERVICES_PAGE >= view.getCount()) {
                    break;
                }
            }
            for (String service : onServer) {
                String name = layout.bareName(service);
                if (!names.contains(name)
                        && !visible(naming.getAllInstances(service, group, List.of(), false)).isEmpty()) {
                    names.add(name);
                }
            }
        } catch (NacosException | RuntimeException e) {
            throw failure("services", e, "group");
        }
        return names;
    }

    @Override
    protected WatchHub.Subscription subscribe(String name, WatchHub.Sink sink) {
        NacosLayout.checkName(name);
        NacosWatch watch;
        try {
            watch = NacosWatch.open(naming, group, layout, this::visible, client::recovering, events, name, sink);
        } catch (NacosException | RuntimeException e) {
            throw failure("watch " + name, e, "name");
        }
        watches.add(watch);
        return () -> {
            watches.remove(watch);
            watch.close();
        };
    }

    private void refreshWatches() {
        for (NacosWatch watch : watches) {
            try {
                watch.refresh();
            } catch (Throwable t) {
                LOG.error("{}: refreshing a watch after the reconnection failed", description(), t);
            }
        }
    }

    private void schedule(Runnable task, long delayNanos) {
        try {
            scheduler.schedule(task, delayNanos, TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // closing
        }
    }

    private List<Instance> visible(List<Instance> instances) {
        if (!healthyOnly) {
            return instances;
        }
        return instances.stream().filter(i -> i.isHealthy() && i.isEnabled() && i.getWeight() > 0)
                .collect(Collectors.toList());
    }

    @Override
    protected void shutdown() {
        scheduler.shutdownNow();
        if (!ownsNaming) {
            client.detach();
            return;
        }
        try {
            naming.shutDown();
        } catch (NacosException | RuntimeException e) {
            LOG.warn("{}: shutting nacos-client down failed: {}", description(), e.toString());
        }
        client.afterShutdown();
    }

    /**
     * Stops as a crashed process would: nothing is deregistered, the connection closes (for a client this registry
     * created) and the server drops the instances.
     */
    void kill() {
        abandon();
    }

    private RegistryException failure(String action, Exception e, String field) {
        if (e instanceof NacosException) {
            NacosException nacos = (NacosException) e;
            if (nacos.getErrCode() == NacosException.NO_RIGHT) {
                return new RegistryAccessDeniedException(action + " refused by " + description() + ": "
                        + nacos.getErrMsg() + " (check the username and password)", e);
            }
            if (nacos.getErrCode() == NacosException.INVALID_PARAM) {
                return new InvalidInstanceException(field, "is refused by Nacos", "(" + nacos.getErrMsg() + ")");
            }
        }
        return unavailable(action, e);
    }

    private static String key(ServiceInstance instance) {
        return instance.name() + "/" + instance.id();
    }

    private static Map<String, List<Instance>> byService(List<NacosLayout.Part> parts) {
        Map<String, List<Instance>> byService = new LinkedHashMap<>();
        parts.forEach(p -> byService.computeIfAbsent(p.service(), s -> new ArrayList<>()).add(p.instance()));
        return byService;
    }

    /** A fresh copy for nacos-client, which keeps what it is given for its redo. */
    private static Instance copy(Instance source) {
        Instance copy = new Instance();
        copy.setIp(source.getIp());
        copy.setPort(source.getPort());
        copy.setWeight(source.getWeight());
        copy.setClusterName(source.getClusterName());
        copy.setHealthy(source.isHealthy());
        copy.setEnabled(source.isEnabled());
        copy.setEphemeral(source.isEphemeral());
        copy.setMetadata(new HashMap<>(source.getMetadata()));
        return copy;
    }

    private static List<Instance> copies(List<Instance> instances) {
        return instances.stream().map(NacosRegistry::copy).collect(Collectors.toList());
    }

    /** How a service was last sent, which decides how to take it back. */
    private enum Sent { NONE, SINGLE, BATCH, REMOVED }

    /** One check of a service: what it should hold, and every id of ours that may be found there. */
    private record Check(String service, long version, List<Instance> expected, Set<String> ids) {
    }

    /** This registry's instances in one Nacos service, by name and id, and what it last sent there. */
    private static final class Published {
        final String name;
        final Map<String, List<Instance>> byId = new LinkedHashMap<>();
        /** Ids of instances that left this service, checked for leftovers until the checks after the change. */
        final Set<String> retired = new HashSet<>();
        Sent sent = Sent.NONE;
        List<Instance> last = List.of();
        long version;
        /** Until when (System.nanoTime) the retired ids are checked for, and an empty entry is kept. */
        long lingerUntil;
        boolean reported;

        Published(String name) {
            this.name = name;
        }

        void changed(long lingerUntil) {
            version++;
            this.lingerUntil = lingerUntil;
        }

        List<Instance> all() {
            List<Instance> all = new ArrayList<>();
            byId.values().forEach(list -> list.forEach(i -> all.add(NacosRegistry.copy(i))));
            return all;
        }

        Set<String> ids() {
            Set<String> ids = new HashSet<>(retired);
            byId.keySet().forEach(key -> ids.add(key.substring(name.length() + 1)));
            return ids;
        }

        Published snapshot() {
            Published copy = new Published(name);
            copy.byId.putAll(byId);
            copy.retired.addAll(retired);
            return copy;
        }

        void restore(Published earlier, long lingerUntil) {
            byId.clear();
            byId.putAll(earlier.byId);
            retired.clear();
            retired.addAll(earlier.retired);
            changed(lingerUntil);
        }
    }

    /**
     * Builds a {@link NacosRegistry}. Either give a server address (and optionally namespace, credentials, timeout
     * and nacos-client properties), and the registry creates its own nacos-client and shuts it down on close; or
     * give an existing {@link NamingService}, which is used as it is and left open.
     */
    public static final class Builder {
        private static final Pattern GROUP = Pattern.compile("[A-Za-z0-9_.:-]{1,128}");
        private static final Pattern CLUSTER = Pattern.compile("[A-Za-z0-9-]{1,64}");
        private static final Pattern NAMESPACE = Pattern.compile("[\\w-]{1,64}");
        private static final Pattern SCHEME = Pattern.compile("[a-z][a-z0-9+.-]*");
        /** A server in nacos-client's serverAddr: optional http(s)://, a host (IPv6 bracketed), an optional port. */
        private static final Pattern SERVER = Pattern.compile("(?:https?://)?(?:\\[[0-9A-Fa-f:.%\\w]+]|[^:/\\[\\]\\s]+)"
                + "(?::(\\d+))?(?:/.*)?");

        private String serverAddr;
        private String namespace;
        private String username;
        private String password;
        private Duration timeout = Duration.ofSeconds(3);
        private final Properties properties = new Properties();
        private NamingService namingService;
        private String group = Constants.DEFAULT_GROUP;
        private String cluster = Constants.DEFAULT_CLUSTER_NAME;
        private double weight = 100;
        private List<String> schemes = List.of("grpc", "grpcs", "http", "https");
        private boolean healthyOnly = true;
        private Duration verifyInterval = Duration.ofSeconds(30);
        private Duration reconnectGrace = Duration.ofSeconds(10);

        private Builder() {
        }

        /**
         * Sets how long after nacos-client's connection came back from a loss watchers still keep instances that
         * are missing from the server's lists. A restarted server (or one that was frozen longer than the
         * connection timeout) has lost every ephemeral instance, and each client registers its own again only
         * after it reconnected (up to 5 s after a long outage) and its redo ran (every 3 s); meanwhile the server
         * answers with lists that lack them. While the connection is down, watchers keep their lists anyway.
         * Removals that are real reach watchers when the period ends; removals while connected reach them at once.
         *
         * @param grace zero or more; 10 s by default; zero keeps lists only while the connection is down
         * @return this builder
         */
        public Builder reconnectGrace(Duration grace) {
            this.reconnectGrace = Options.required(grace, "grace");
            return this;
        }

        /**
         * Sets how often the registry checks that the server holds what it registered, and registers again where
         * it does not (a registration racing with nacos-client's re-send after a reconnect can be overwritten).
         *
         * @param interval a positive duration; 30 s by default
         * @return this builder
         */
        public Builder verifyInterval(Duration interval) {
            this.verifyInterval = Options.required(interval, "interval");
            return this;
        }

        /**
         * Sets the Nacos servers.
         *
         * @param serverAddr {@code host:port} pairs separated by commas, such as {@code 10.0.0.1:8848,10.0.0.2:8848};
         *     the port is the main (HTTP) port, nacos-client adds 1000 for gRPC
         * @return this builder
         */
        public Builder serverAddr(String serverAddr) {
            this.serverAddr = Options.required(serverAddr, "serverAddr");
            return this;
        }

        /**
         * Sets the namespace id.
         *
         * @param namespace such as {@code prod}; nacos-client's default is {@code public}
         * @return this builder
         */
        public Builder namespace(String namespace) {
            this.namespace = Options.required(namespace, "namespace");
            return this;
        }

        /**
         * Sets the user nacos-client logs in as (Nacos auth).
         *
         * @param username the user
         * @return this builder
         */
        public Builder username(String username) {
            this.username = Options.required(username, "username");
            return this;
        }

        /**
         * Sets the password; it is never logged or shown.
         *
         * @param password the password
         * @return this builder
         */
        public Builder password(String password) {
            this.password = Options.required(password, "password");
            return this;
        }

        /**
         * Sets how long one request to Nacos may take.
         *
         * @param timeout a positive duration; 3 s by default
         * @return this builder
         */
        public Builder timeout(Duration timeout) {
            this.timeout = Options.required(timeout, "timeout");
            return this;
        }

        /**
         * Sets any nacos-client property for the client this registry creates, such as {@code redoDelayTime},
         * {@code contextPath} or {@code JM.SNAPSHOT.PATH} (where the naming cache is written).
         *
         * @param key the property name, see {@code com.alibaba.nacos.api.PropertyKeyConst}
         * @param value its value
         * @return this builder
         */
        public Builder property(String key, String value) {
            properties.setProperty(Options.required(key, "key"), Options.required(value, "value"));
            return this;
        }

        /**
         * Uses an existing client instead of creating one; it is left open on close. Its own server address,
         * namespace and credentials apply, so they cannot be set on this builder too.
         *
         * @param namingService the client
         * @return this builder
         */
        public Builder namingService(NamingService namingService) {
            this.namingService = Options.required(namingService, "namingService");
            return this;
        }

        /**
         * Sets the Nacos group of every service registered and read.
         *
         * @param group letters, digits, {@code _ . : -}; {@code DEFAULT_GROUP} by default, as Kratos
         * @return this builder
         */
        public Builder group(String group) {
            this.group = Options.required(group, "group");
            return this;
        }

        /**
         * Sets the Nacos cluster instances are registered in. Discovery reads every cluster.
         *
         * @param cluster letters, digits, {@code -}; {@code DEFAULT} by default, as Kratos
         * @return this builder
         */
        public Builder cluster(String cluster) {
            this.cluster = Options.required(cluster, "cluster");
            return this;
        }

        /**
         * Sets the Nacos weight of instances whose metadata has no numeric {@code weight}.
         *
         * @param weight greater than 0, at most 10000; 100 by default, as Kratos
         * @return this builder
         */
        public Builder weight(double weight) {
            this.weight = weight;
            return this;
        }

        /**
         * Sets the schemes whose {@code <name>.<scheme>} services make up a bare name in discovery. An instance
         * registered with another scheme is only found by its direct name.
         *
         * @param schemes such as {@code grpc}; {@code grpc, grpcs, http, https} by default
         * @return this builder
         */
        public Builder schemes(List<String> schemes) {
            this.schemes = List.copyOf(Options.required(schemes, "schemes"));
            return this;
        }

        /**
         * Chooses whether discovery returns only healthy, enabled instances with a positive weight.
         *
         * @param healthyOnly true by default
         * @return this builder
         */
        public Builder healthyOnly(boolean healthyOnly) {
            this.healthyOnly = healthyOnly;
            return this;
        }

        /**
         * Checks the options, creates the nacos-client if none was given, and opens the registry. When credentials
         * are set, one request checks them at once.
         *
         * @return the open registry
         * @throws InvalidOptionException naming a bad option
         * @throws RegistryAccessDeniedException when the server refuses the credentials
         * @throws RegistryUnavailableException when nacos-client cannot be created
         */
        public NacosRegistry build() {
            check();
            if (namingService != null) {
                return new NacosRegistry(this, namingService, false, "nacos (given NamingService, group " + group
                        + ")");
            }
            String description = "nacos at " + serverAddr + " (namespace " + (namespace == null
                    ? Constants.DEFAULT_NAMESPACE_ID : namespace) + ", group " + group + ")";
            NamingService created;
            try {
                created = NamingFactory.createNamingService(clientProperties());
            } catch (NacosException e) {
                throw new RegistryUnavailableException("cannot create nacos-client for " + description
                        + ": " + e.getErrMsg(), e);
            } catch (RuntimeException e) {
                throw new RegistryUnavailableException("cannot create nacos-client for " + description
                        + ": " + e, e);
            }
            NacosRegistry registry = new NacosRegistry(this, created, true, description);
            if (username != null) {
                registry.checkCredentials();
            }
            return registry;
        }

        private Properties clientProperties() {
            Properties p = new Properties();
            p.putAll(properties);
            p.setProperty(PropertyKeyConst.SERVER_ADDR, serverAddr);
            p.setProperty(CommonParams.NAMING_REQUEST_TIMEOUT, String.valueOf(timeout.toMillis()));
            if (namespace != null) {
                p.setProperty(PropertyKeyConst.NAMESPACE, namespace);
            }
            if (username != null) {
                p.setProperty(PropertyKeyConst.USERNAME, username);
                p.setProperty(PropertyKeyConst.PASSWORD, password == null ? "" : password);
            }
            return p;
        }

        private void check() {
            if (namingService != null && (serverAddr != null || namespace != null || username != null
                    || password != null || !properties.isEmpty())) {
                throw new InvalidOptionException("namingService", "nacos: a given NamingService brings its own "
                        + "server address, namespace, credentials and properties; do not set them too");
            }
            if (namingService == null && (serverAddr == null || serverAddr.isBlank())) {
                throw new InvalidOptionException("serverAddr", "nacos needs a server address (serverAddr) "
                        + "such as 127.0.0.1:8848");
            }
            if (serverAddr != null) {
                checkServerAddr("serverAddr", serverAddr);
            }
            require("group", group, GROUP, "letters, digits and _ . : - (at most 128)");
            require("cluster", cluster, CLUSTER, "letters, digits and - (at most 64)");
            if (namespace != null) {
                require("namespace", namespace, NAMESPACE, "letters, digits, _ and - (at most 64)");
            }
            if (!(weight > 0 && weight <= 10_000)) {
                throw new InvalidOptionException("weight", "nacos option 'weight' must be greater than 0 and at "
                        + "most 10000, was " + weight);
            }
            if (timeout.isZero() || timeout.isNegative()) {
                throw new InvalidOptionException("timeout", "nacos option 'timeout' must be positive");
            }
            if (verifyInterval.isZero() || verifyInterval.isNegative()) {
                throw new InvalidOptionException("verify", "nacos option 'verify' must be positive");
            }
            if (reconnectGrace.isNegative()) {
                throw new InvalidOptionException("reconnectGrace", "nacos option 'reconnectGrace' must not be "
                        + "negative");
            }
            if (schemes.isEmpty()) {
                throw new InvalidOptionException("schemes", "nacos option 'schemes' must list at least one scheme");
            }
            schemes.forEach(s -> require("schemes", s, SCHEME, "lower-case URI schemes such as grpc"));
        }

        /**
         * Checks the ports of a nacos-client server address before nacos-client sees them: it connects to the port
         * plus the gRPC offset (1000, or system property {@code nacos.server.grpc.port.offset}), and a port it cannot
         * use fails later on one of its threads instead of here.
         *
         * @param option the option to name in the error
         * @param serverAddr {@code host:port} pairs separated by commas, a port optional
         */
        static void checkServerAddr(String option, String serverAddr) {
            int offset = Integer.getInteger("nacos.server.grpc.port.offset", 1000);
            for (String server : serverAddr.split(",")) {
                Matcher m = SERVER.matcher(server.trim());
                if (!m.matches()) {
                    throw new InvalidOptionException(option, "nacos server address must be host:port pairs "
                            + "separated by commas, such as 10.0.0.1:8848, was '" + RegistryUri.redact(server.trim())
                            + "'");
                }
                if (m.group(1) == null) {
                    continue; // nacos-client's default port
                }
                long port = m.group(1).length() > 6 ? Long.MAX_VALUE : Long.parseLong(m.group(1));
                if (port < 1 || port > 65535 - offset) {
                    throw new InvalidOptionException(option, "nacos server port must be 1.." + (65535 - offset)
                            + " (nacos-client connects to gRPC on the port + " + offset + "), was " + m.group(1));
                }
            }
        }

        private static void require(String option, String value, Pattern pattern, String rule) {
            if (!pattern.matcher(value).matches()) {
                throw new InvalidOptionException(option, "nacos option '" + option + "' must be " + rule + ", was '"
                        + value + "'");
            }
        }
    }

    /** Asks for one page of the service list, so that refused credentials fail now rather than later. */
    private void checkCredentials() {
        try {
            naming.getServicesOfServer(1, 1, group);
        } catch (NacosException e) {
            if (e.getErrCode() == NacosException.NO_RIGHT) {
                close();
                throw new RegistryAccessDeniedException(description() + " refused the credentials: "
                        + e.getErrMsg() + " (check the username and password)", e);
            }
            LOG.warn("{}: cannot check the credentials now: {}", description(), e.getErrMsg());
        }
    }
}
