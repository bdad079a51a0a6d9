package io.roster.nacos;

import com.alibaba.nacos.api.PropertyKeyConst;
import com.alibaba.nacos.api.common.Constants;
import com.alibaba.nacos.api.exception.NacosException;
import com.alibaba.nacos.api.naming.CommonParams;
import com.alibaba.nacos.api.naming.NamingFactory;
import com.alibaba.nacos.api.naming.NamingService;
import com.alibaba.nacos.api.naming.pojo.Instance;
import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.AbstractRegistry;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * A registry on Nacos 2.2+ or 3.x, through nacos-client's gRPC naming client, in the layout Go Kratos uses: each
 * endpoint of an instance is one ephemeral Nacos instance of service {@code <name>.<scheme>} (group and cluster from
 * the options), with metadata {@code kind} and {@code version}, plus a {@code roster.instance} key that lets Java
 * consumers put the endpoints back together. {@code getService("greeter")} and {@code watch("greeter")} return each
 * instance once with all its endpoints; {@code getService("greeter.grpc")} returns that one service, as Go clients
 * ask for it. Only healthy, enabled instances with a positive weight are returned unless
 * {@link Builder#healthyOnly(boolean) healthyOnly(false)}.
 *
 * <p>Liveness is the client's gRPC connection: the server drops the instances of a connection that closes, and
 * nacos-client registers and subscribes again after it reconnects ("redo"). A Nacos connection holds one entry per
 * service, so this registry sends all the instances it has in one service together (a batch registration when
 * there are several) and sends the whole set again on every change.
 *
 * <pre>{@code
 * try (Registry registry = NacosRegistry.builder().serverAddr("10.0.0.1:8848").namespace("prod").build()) { ... }
 * // or Registries.open("nacos://10.0.0.1:8848?namespace=prod&group=DEFAULT_GROUP")
 * }</pre>
 */
public final class NacosRegistry extends AbstractRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(NacosRegistry.class);

    private final NamingService naming;
    private final boolean ownsNaming;
    private final String group;
    private final NacosLayout layout;
    private final boolean healthyOnly;
    /** Runs watch events and the periodic check of what the server holds. */
    private final ScheduledExecutorService scheduler;
    private final Executor events;
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
        long verify = b.verifyInterval.toNanos();
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
        update(key(instance), byService(layout.parts(instance)), "register " + key(instance));
    }

    @Override
    protected void doDeregister(ServiceInstance instance, boolean owned) {
        if (!owned) {
            // Another client's ephemeral instance cannot be removed, and a deregister call for its service would
            // remove this connection's own entry instead.
            LOG.debug("{}: {} was not registered here, nothing to deregister", description(), key(instance));
            return;
        }
        update(key(instance), Map.of(), "deregister " + key(instance));
    }

    @Override
    protected void deregisterAll(Collection<ServiceInstance> instances) {
        for (Map.Entry<String, Published> entry : new ArrayList<>(published.entrySet())) {
            entry.getValue().byId.clear();
            try {
                sync(entry.getKey());
            } catch (NacosException e) {
                LOG.warn("{}: deregistering service {} on close failed, its instances go with the connection: {}",
                        description(), entry.getKey(), e.toString());
            }
        }
    }

    /**
     * Applies one instance's change to the services it is in or goes to, and sends each of them whole.
     *
     * @param key the instance's name and id
     * @param mine its parts by service; empty to remove it
     * @param action what is done, for messages
     */
    private void update(String key, Map<String, List<Instance>> mine, String action) {
        List<String> affected = new ArrayList<>(mine.keySet());
        published.forEach((service, p) -> {
            if (p.byId.containsKey(key) && !affected.contains(service)) {
                affected.add(service);
            }
        });
        Map<String, Map<String, List<Instance>>> before = new HashMap<>();
        for (String service : affected) {
            Published p = published.computeIfAbsent(service, s -> new Published());
            before.put(service, new LinkedHashMap<>(p.byId));
            if (mine.containsKey(service)) {
                p.byId.put(key, mine.get(service));
            } else {
                p.byId.remove(key);
            }
        }
        try {
            for (String service : affected) {
                sync(service);
            }
        } catch (NacosException e) {
            // Put the previous sets back and send them again, so that what this registry, nacos-client's redo
            // cache and (once reachable) the server hold agree with the book, which keeps the previous state.
            for (String service : affected) {
                Published p = published.computeIfAbsent(service, s -> new Published());
                p.byId.clear();
                p.byId.putAll(before.get(service));
                try {
                    sync(service);
                } catch (NacosException again) {
                    LOG.debug("{}: restoring service {} failed too: {}", description(), service, again.toString());
                }
            }
            throw failure(action, e, "instance");
        }
    }

    /**
     * Sends this registry's whole set of one service: one instance with registerInstance, several with
     * batchRegisterInstance, none by removing the connection's entry. nacos-client caches each call for its redo
     * before sending it, so {@link Published#sent} is updated first, whatever the outcome.
     */
    private void sync(String service) throws NacosException {
        Published p = published.get(service);
        List<Instance> all = p.all();
        if (all.size() > 1) {
            p.sent = Sent.BATCH;
            naming.batchRegisterInstance(service, group, all);
        } else if (all.size() == 1) {
            p.sent = Sent.SINGLE;
            p.single = all.get(0);
            naming.registerInstance(service, group, copy(p.single));
        } else {
            Sent sent = p.sent;
            published.remove(service);
            if (sent == Sent.SINGLE) {
                naming.deregisterInstance(service, group, copy(p.single));
            } else if (sent == Sent.BATCH) {
                // A deregister call on a batch is turned by nacos-client into a batch of the others: send none.
                naming.batchRegisterInstance(service, group, new ArrayList<>());
            }
        }
    }

    /**
     * Checks that the server holds what this registry last sent for each of its services, and sends a service again
     * when it does not: nacos-client's redo re-sends its cache after a reconnect, and a registration that races
     * with that re-send can leave the server with the older set until the next change. One query per service per
     * interval; nothing is sent while the server agrees.
     */
    private void verify() {
        Map<String, List<Instance>> expected = new LinkedHashMap<>();
        registrationLock().lock();
        try {
            if (isClosed()) {
                return;
            }
            published.forEach((service, p) -> expected.put(service, p.all()));
        } finally {
            registrationLock().unlock();
        }
        for (Map.Entry<String, List<Instance>> e : expected.entrySet()) {
            String service = e.getKey();
            List<Instance> onServer;
            try {
                onServer = naming.getAllInstances(service, group, List.of(), false);
            } catch (NacosException | RuntimeException ex) {
                // Unreachable: redo re-sends everything once reconnected, and the next check verifies that.
                LOG.debug("{}: checking service {} failed: {}", description(), service, ex.toString());
                return;
            }
            if (e.getValue().stream().allMatch(mine -> onServer.stream().anyMatch(s -> same(mine, s)))) {
                continue;
            }
            registrationLock().lock();
            try {
                Published p = published.get(service);
                if (isClosed() || p == null || !sameSets(p.all(), e.getValue())) {
                    continue; // changed meanwhile, so it was just sent
                }
                LOG.warn("{}: the server does not hold what this registry sent for {}; sending it again",
                        description(), service);
                sync(service);
            } catch (NacosException ex) {
                LOG.debug("{}: sending {} again failed: {}", description(), service, ex.toString());
            } finally {
                registrationLock().unlock();
            }
        }
    }

    private static boolean same(Instance a, Instance b) {
        return a.getIp().equals(b.getIp()) && a.getPort() == b.getPort()
                && Objects.equals(a.getClusterName(), b.getClusterName()) && a.getMetadata().equals(b.getMetadata());
    }

    private static boolean sameSets(List<Instance> a, List<Instance> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (!same(a.get(i), b.get(i))) {
                return false;
            }
        }
        return true;
    }

    @Override
    protected List<ServiceInstance> doGetService(String name) {
        NacosLayout.checkName(name);
        Map<NacosLayout.Target, List<Instance>> lists = new LinkedHashMap<>();
        for (NacosLayout.Target target : layout.targets(name)) {
            try {
                lists.put(target, visible(naming.getAllInstances(target.service(), group, List.of(), false)));
            } catch (NacosException e) {
                throw failure("getService " + name, e, "name");
            }
        }
        return layout.merge(name, lists, Map.of());
    }

    @Override
    protected WatchHub.Subscription subscribe(String name, WatchHub.Sink sink) {
        NacosLayout.checkName(name);
        try {
            return NacosWatch.open(naming, group, layout, this::visible, events, name, sink);
        } catch (NacosException e) {
            throw failure("watch " + name, e, "name");
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
        if (ownsNaming) {
            try {
                naming.shutDown();
            } catch (NacosException | RuntimeException e) {
                LOG.warn("{}: shutting nacos-client down failed: {}", description(), e.toString());
            }
        }
    }

    /**
     * Stops as a crashed process would: nothing is deregistered, the connection closes (for a client this registry
     * created) and the server drops the instances.
     */
    void kill() {
        abandon();
    }

    private RegistryException failure(String action, NacosException e, String field) {
        if (e.getErrCode() == NacosException.NO_RIGHT) {
            return new RegistryAccessDeniedException(action + " refused by " + description() + ": "
                    + e.getErrMsg() + " (check the username and password)", e);
        }
        if (e.getErrCode() == NacosException.INVALID_PARAM) {
            return new InvalidInstanceException(field, "is refused by Nacos", "(" + e.getErrMsg() + ")");
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

    /** How a service was last sent, which decides how to take it back. */
    private enum Sent { NONE, SINGLE, BATCH }

    /** This registry's instances in one Nacos service, by name and id. */
    private static final class Published {
        final Map<String, List<Instance>> byId = new LinkedHashMap<>();
        Sent sent = Sent.NONE;
        Instance single;

        List<Instance> all() {
            List<Instance> all = new ArrayList<>();
            byId.values().forEach(list -> list.forEach(i -> all.add(copy(i))));
            return all;
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

        private Builder() {
        }

        /**
         * Sets how often the registry checks that the server holds what it registered, and registers again where
         * it does not (a registration racing with nacos-client's re-send after a reconnect can be overwritten).
         *
         * @param interval a positive duration; 30 s by default
         * @return this builder
         */
        public Builder verifyInterval(Duration interval) {
            this.verifyInterval = Objects.requireNonNull(interval, "interval");
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
            this.serverAddr = Objects.requireNonNull(serverAddr, "serverAddr");
            return this;
        }

        /**
         * Sets the namespace id.
         *
         * @param namespace such as {@code prod}; nacos-client's default is {@code public}
         * @return this builder
         */
        public Builder namespace(String namespace) {
            this.namespace = Objects.requireNonNull(namespace, "namespace");
            return this;
        }

        /**
         * Sets the user nacos-client logs in as (Nacos auth).
         *
         * @param username the user
         * @return this builder
         */
        public Builder username(String username) {
            this.username = Objects.requireNonNull(username, "username");
            return this;
        }

        /**
         * Sets the password; it is never logged or shown.
         *
         * @param password the password
         * @return this builder
         */
        public Builder password(String password) {
            this.password = Objects.requireNonNull(password, "password");
            return this;
        }

        /**
         * Sets how long one request to Nacos may take.
         *
         * @param timeout a positive duration; 3 s by default
         * @return this builder
         */
        public Builder timeout(Duration timeout) {
            this.timeout = Objects.requireNonNull(timeout, "timeout");
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
            properties.setProperty(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
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
            this.namingService = Objects.requireNonNull(namingService, "namingService");
            return this;
        }

        /**
         * Sets the Nacos group of every service registered and read.
         *
         * @param group letters, digits, {@code _ . : -}; {@code DEFAULT_GROUP} by default, as Kratos
         * @return this builder
         */
        public Builder group(String group) {
            this.group = Objects.requireNonNull(group, "group");
            return this;
        }

        /**
         * Sets the Nacos cluster instances are registered in. Discovery reads every cluster.
         *
         * @param cluster letters, digits, {@code -}; {@code DEFAULT} by default, as Kratos
         * @return this builder
         */
        public Builder cluster(String cluster) {
            this.cluster = Objects.requireNonNull(cluster, "cluster");
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
            this.schemes = List.copyOf(schemes);
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
            if (schemes.isEmpty()) {
                throw new InvalidOptionException("schemes", "nacos option 'schemes' must list at least one scheme");
            }
            schemes.forEach(s -> require("schemes", s, SCHEME, "lower-case URI schemes such as grpc"));
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
