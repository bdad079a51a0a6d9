package io.roster.consul;

import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.ServiceInstance;
import io.roster.spi.AbstractRegistry;
import io.roster.spi.Backoff;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.RetryTask;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * A registry on a Consul agent ({@code consul://127.0.0.1:8500}), in Go Kratos's layout, so that Java and Go
 * services on one Consul see each other.
 *
 * <ul>
 *   <li><b>Registration</b>: {@code PUT /v1/agent/service/register} with the instance as Kratos writes it
 *       ({@code version=<v>} tag, tagged addresses holding the endpoint URLs, metadata as {@code Meta}) and a TTL
 *       check {@code service:<id>} (default TTL 20 s, {@code DeregisterCriticalServiceAfter} 600 s), passed at once
 *       so that {@code register} returns with the instance discoverable.</li>
 *   <li><b>Keepalive</b>: one scheduler thread passes every instance's TTL check each heartbeat (default TTL/2).
 *       When a pass fails (agent restarted or replaced and the check unknown, agent unreachable), the instance is
 *       registered again, whole, with backoff and no ceiling, until it is deregistered. On by default, unlike
 *       Spring Cloud Consul.</li>
 *   <li><b>Discovery</b>: {@code /v1/health/service/<name>}, passing instances only by default. Watches are
 *       asynchronous blocking queries, one loop per watched service and no thread held per watch (see
 *       {@link ConsulWatch}); a service scaling to zero is pushed as an empty list.</li>
 *   <li><b>Security</b>: the ACL token is sent as {@code X-Consul-Token} on every request, with or without TLS; a
 *       refused token fails with {@link RegistryAccessDeniedException}. The token never appears in logs, messages
 *       or {@code toString()}. TLS with a CA file and client certificates.</li>
 * </ul>
 *
 * <p>TCP checks per endpoint (Kratos's default) are off by default: the TTL heartbeat already proves the process
 * alive, a TCP check starts critical (the instance stays hidden from passing-only discovery until its first run,
 * up to an interval after {@code register}), and an endpoint the agent cannot reach (another network, an
 * advertised address the agent does not route to) keeps the instance critical for good. Turn them on with
 * {@link Builder#tcpCheck(boolean)} for Kratos's behaviour.
 *
 * <pre>{@code
 * try (Registry registry = ConsulRegistry.builder().address("127.0.0.1:8500").token(token).build()) { ... }
 * // or Registries.open("consul://127.0.0.1:8500?token=...&ttl=20s")
 * }</pre>
 */
public final class ConsulRegistry extends AbstractRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(ConsulRegistry.class);

    private final ConsulConfig config;
    private final ConsulClient client;
    private final ScheduledExecutorService scheduler;
    private final ScheduledFuture<?> heartbeat;
    private final Map<String, Keepalive> keepalives = new ConcurrentHashMap<>(); // changed under registrationLock
    private final Set<ConsulWatch> watches = ConcurrentHashMap.newKeySet();

    private ConsulRegistry(ConsulConfig config) {
        super("consul at " + config.agent().getScheme() + "://" + config.agent().getRawAuthority());
        this.config = config;
        this.client = new ConsulClient(config);
        this.scheduler = DaemonThreadFactory.scheduler("roster-consul-scheduler");
        long period = config.heartbeat().toNanos();
        this.heartbeat = scheduler.scheduleAtFixedRate(this::beat, period, period, TimeUnit.NANOSECONDS);
    }

    /**
     * Starts a builder.
     *
     * @return a builder for the agent at {@code 127.0.0.1:8500}, without token, TTL 20 s
     */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected void doRegister(ServiceInstance instance, ServiceInstance previous) {
        ConsulFormat.validate(instance);
        Keepalive keepalive = new Keepalive(instance);
        try {
            keepalive.registerNow();
        } catch (IOException | InterruptedException e) {
            keepalive.close();
            if (previous == null) {
                forget(instance); // in case the registration went through and only the first pass failed
            }
            throw translate("register " + key(instance), e);
        }
        Keepalive old = keepalives.put(key(instance), keepalive);
        if (old != null) {
            old.close();
        }
    }

    @Override
    protected void doDeregister(ServiceInstance instance, boolean owned) {
        Keepalive keepalive = keepalives.remove(key(instance));
        if (keepalive != null) {
            keepalive.close();
        }
        try {
            client.deregister(instance.id());
        } catch (IOException | InterruptedException e) {
            throw translate("deregister " + key(instance), e);
        }
    }

    /** Deregisters everything at once, so that closing against a hung agent takes one timeout, not one each. */
    @Override
    protected void deregisterAll(Collection<ServiceInstance> instances) {
        List<CompletableFuture<ConsulClient.Reply>> calls = new ArrayList<>();
        for (ServiceInstance instance : instances) {
            Keepalive keepalive = keepalives.remove(key(instance));
            if (keepalive != null) {
                keepalive.close();
            }
            calls.add(client.deregisterAsync(instance.id()).whenComplete((r, e) -> {
                if (e != null) {
                    LOG.warn("{}: deregistering {} on close failed, its TTL check will expire: {}", description(),
                            key(instance), e.getCause() == null ? e.toString() : e.getCause().toString());
                }
            }));
        }
        try {
            CompletableFuture.allOf(calls.toArray(new CompletableFuture<?>[0]))
                    .get(config.timeout().plusSeconds(1).toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // logged per instance above
        }
    }

    @Override
    protected List<ServiceInstance> doGetService(String name) {
        try {
            ConsulClient.Reply reply = client.health(name, config.passingOnly(), config.datacenter());
            return ConsulFormat.instances(reply.body, name);
        } catch (IOException | InterruptedException e) {
            throw translate("read service '" + name + "'", e);
        }
    }

    @Override
    protected WatchHub.Subscription subscribe(String name, WatchHub.Sink sink) {
        ConsulWatch watch = new ConsulWatch(name, sink, client, scheduler, config, description());
        watches.add(watch);
        WatchHub.Subscription subscription = () -> {
            watch.close();
            watches.remove(watch);
        };
        watch.start();
        try {
            watch.awaitFirst(config.timeout());
        } catch (IOException | InterruptedException e) {
            subscription.close();
            throw translate("watch service '" + name + "'", e);
        }
        return subscription;
    }

    @Override
    protected void shutdown() {
        heartbeat.cancel(false);
        keepalives.values().forEach(Keepalive::close);
        keepalives.clear();
        watches.forEach(ConsulWatch::close);
        watches.clear();
        scheduler.shutdownNow();
        client.close();
        try {
            scheduler.awaitTermination(config.timeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Stops as a crashed process would, for tests: no deregistration, no more heartbeats; the instances turn
     * critical when their TTL runs out.
     */
    void kill() {
        abandon();
    }

    /** Passes every TTL check, asynchronously; runs on the scheduler every heartbeat. */
    private void beat() {
        for (Keepalive keepalive : keepalives.values()) {
            try {
                keepalive.beat();
            } catch (RuntimeException e) {
                // A periodic task that throws is never run again: keep beating for the others.
                LOG.warn("{}: heartbeat of {} failed: {}", description(), key(keepalive.instance), e.toString());
            }
        }
    }

    private void forget(ServiceInstance instance) {
        try {
            client.deregister(instance.id());
        } catch (IOException | InterruptedException | RuntimeException e) {
            LOG.debug("{}: cleaning up {} after a failed registration failed too: {}", description(),
                    key(instance), e.toString());
        }
    }

    private RegistryException translate(String action, Throwable e) {
        if (e instanceof InterruptedException) {
            Thread.currentThread().interrupt();
        }
        if (e instanceof ConsulClient.ConsulHttpException) {
            ConsulClient.ConsulHttpException http = (ConsulClient.ConsulHttpException) e;
            if (http.status == 401 || http.status == 403) {
                return new RegistryAccessDeniedException(description() + " refused to " + action + " ("
                        + http.getMessage() + "): check the ACL token (option 'token')"
                        + (config.token() == null ? ", none was given" : ""), e);
            }
            if (http.status == 400) {
                return new InvalidInstanceException("instance", "was rejected by " + description(),
                        "(" + http.getMessage() + ")");
            }
        }
        return unavailable(action, e);
    }

    private static String key(ServiceInstance instance) {
        return instance.name() + "/" + instance.id();
    }

    /** Keeps one registered instance alive: its payload, its TTL check, and its re-registration task. */
    private final class Keepalive {
        final ServiceInstance instance;
        final String payload;
        final String checkId;
        final RetryTask reregistration;

        Keepalive(ServiceInstance instance) {
            this.instance = instance;
            this.payload = ConsulFormat.registration(instance, config.checks());
            this.checkId = ConsulFormat.checkId(instance);
            this.reregistration = new RetryTask("re-register " + key(instance) + " on " + description(), scheduler,
                    Backoff.defaults(), this::reregister);
        }

        void registerNow() throws IOException, InterruptedException {
            client.register(payload);
            client.passTtl(checkId);
        }

        void beat() {
            if (reregistration.isBusy()) {
                return; // the agent lost it; re-registration is under way
            }
            client.passTtlAsync(checkId).whenComplete((reply, error) -> {
                if (error != null && !isClosed() && keepalives.get(key(instance)) == this) {
                    Throwable cause = error.getCause() == null ? error : error.getCause();
                    LOG.warn("{}: TTL check of {} failed, registering it again: {}", description(), key(instance),
                            cause.toString());
                    reregistration.trigger();
                }
            });
        }

        /** Registers the whole payload again, unless it was deregistered or replaced meanwhile. */
        void reregister() throws IOException, InterruptedException {
            registrationLock().lock();
            try {
                if (isClosed() || keepalives.get(key(instance)) != this || !isRegistered(instance)) {
                    return;
                }
                registerNow();
                LOG.info("{}: registered {} again", description(), key(instance));
            } finally {
                registrationLock().unlock();
            }
        }

        void close() {
            reregistration.close();
        }
    }

    /**
     * Builds a {@link ConsulRegistry}. Every setting has a URI option of the same meaning, named in parentheses;
     * a bad value fails {@link #build()} with an {@link InvalidOptionException} naming that option.
     */
    public static final class Builder {
        /** Consul's longest blocking wait. */
        static final Duration MAX_WAIT = Duration.ofMinutes(10);

        private String address = "127.0.0.1";
        private String token;
        private String datacenter;
        private Duration ttl = Duration.ofSeconds(20);
        private Duration heartbeat;
        private Duration deregisterAfter = Duration.ofSeconds(600);
        private boolean tcpCheck;
        private List<String> tags = List.of();
        private Duration wait = Duration.ofSeconds(55);
        private Duration timeout = Duration.ofSeconds(10);
        private boolean passingOnly = true;
        private Boolean tls;
        private Path caFile;
        private Path certFile;
        private Path keyFile;
        private SSLContext sslContext;

        private Builder() {
        }

        /**
         * Sets the agent to talk to (the host part of the URI); register with the agent of your own node.
         *
         * @param address {@code host}, {@code host:port}, {@code [::1]:8500}, or {@code http(s)://host:port};
         *     the port defaults to 8500, or 8501 with TLS
         * @return this builder
         */
        public Builder address(String address) {
            this.address = Objects.requireNonNull(address, "address");
            return this;
        }

        /**
         * Sets the ACL token ({@code token}), sent as {@code X-Consul-Token} on every request.
         *
         * @param token the token's secret ID; never logged
         * @return this builder
         */
        public Builder token(String token) {
            this.token = Objects.requireNonNull(token, "token");
            return this;
        }

        /**
         * Sets the datacenter to discover in ({@code dc}); registration always goes to the agent's own.
         *
         * @param datacenter such as {@code dc1}
         * @return this builder
         */
        public Builder datacenter(String datacenter) {
            this.datacenter = Objects.requireNonNull(datacenter, "datacenter");
            return this;
        }

        /**
         * Sets the TTL of each instance's check ({@code ttl}, default 20 s): an instance whose process stops
         * heartbeating turns critical, and leaves passing-only discovery, this long after its last heartbeat.
         *
         * @param ttl a positive duration
         * @return this builder
         */
        public Builder ttl(Duration ttl) {
            this.ttl = Objects.requireNonNull(ttl, "ttl");
            return this;
        }

        /**
         * Sets how often TTL checks are passed ({@code heartbeat}, default half the TTL); also the interval of
         * TCP checks.
         *
         * @param heartbeat shorter than the TTL
         * @return this builder
         */
        public Builder heartbeat(Duration heartbeat) {
            this.heartbeat = Objects.requireNonNull(heartbeat, "heartbeat");
            return this;
        }

        /**
         * Sets how long Consul keeps an instance whose checks stay critical before removing it
         * ({@code deregisterAfter}, default 600 s as in Kratos; Consul treats anything under a minute as one).
         *
         * @param deregisterAfter a positive duration
         * @return this builder
         */
        public Builder deregisterCriticalServiceAfter(Duration deregisterAfter) {
            this.deregisterAfter = Objects.requireNonNull(deregisterAfter, "deregisterAfter");
            return this;
        }

        /**
         * Adds a TCP check per endpoint ({@code tcpCheck}, default false; Kratos's default is true), run by the
         * agent every heartbeat interval. An endpoint the agent cannot connect to keeps the instance critical,
         * so hidden from passing-only discovery.
         *
         * @param tcpCheck whether to add them
         * @return this builder
         */
        public Builder tcpCheck(boolean tcpCheck) {
            this.tcpCheck = tcpCheck;
            return this;
        }

        /**
         * Sets extra tags ({@code tags}, comma-separated), written after the {@code version=} tag.
         *
         * @param tags non-blank tags, none starting with {@code version=}
         * @return this builder
         */
        public Builder tags(List<String> tags) {
            this.tags = List.copyOf(tags);
            return this;
        }

        /**
         * Sets how long the agent holds a watch's blocking query ({@code wait}, default 55 s as in Kratos, at
         * most 10 min).
         *
         * @param wait a positive duration
         * @return this builder
         */
        public Builder blockingQueryWait(Duration wait) {
            this.wait = Objects.requireNonNull(wait, "wait");
            return this;
        }

        /**
         * Sets the timeout of each request ({@code timeout}, default 10 s); a blocking query may take its wait,
         * Consul's jitter of up to wait/16, and this timeout.
         *
         * @param timeout a positive duration
         * @return this builder
         */
        public Builder timeout(Duration timeout) {
            this.timeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /**
         * Chooses whether discovery returns only instances whose checks all pass ({@code passingOnly}, default
         * true, as Kratos); false returns critical instances too, for monitoring.
         *
         * @param passingOnly whether to filter
         * @return this builder
         */
        public Builder passingOnly(boolean passingOnly) {
            this.passingOnly = passingOnly;
            return this;
        }

        /**
         * Talks HTTPS to the agent ({@code tls}); implied by a CA file, a client certificate or an SSL context.
         *
         * @param tls whether to use TLS
         * @return this builder
         */
        public Builder tls(boolean tls) {
            this.tls = tls;
            return this;
        }

        /**
         * Trusts the CA certificates of a PEM file ({@code caFile}) instead of the JDK's defaults.
         *
         * @param caFile a PEM file of one or more certificates
         * @return this builder
         */
        public Builder caFile(Path caFile) {
            this.caFile = Objects.requireNonNull(caFile, "caFile");
            return this;
        }

        /**
         * Presents a client certificate ({@code certFile}, {@code keyFile}), for agents with
         * {@code verify_incoming}.
         *
         * @param certFile the PEM certificate chain
         * @param keyFile its unencrypted PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)
         * @return this builder
         */
        public Builder clientCertificate(Path certFile, Path keyFile) {
            this.certFile = Objects.requireNonNull(certFile, "certFile");
            this.keyFile = Objects.requireNonNull(keyFile, "keyFile");
            return this;
        }

        /**
         * Uses a ready-made TLS context instead of {@link #caFile} and {@link #clientCertificate}.
         *
         * @param sslContext the context
         * @return this builder
         */
        public Builder sslContext(SSLContext sslContext) {
            this.sslContext = Objects.requireNonNull(sslContext, "sslContext");
            return this;
        }

        /**
         * Validates the settings and opens the registry. Nothing is sent until the first call.
         *
         * @return the registry
         * @throws InvalidOptionException naming the first bad setting
         */
        public ConsulRegistry build() {
            return new ConsulRegistry(config());
        }

        ConsulConfig config() {
            positive("ttl", ttl);
            Duration beat = heartbeat == null ? ttl.dividedBy(2) : heartbeat;
            positive("heartbeat", beat);
            if (beat.compareTo(ttl) >= 0) {
                throw bad("heartbeat", "must be shorter than ttl (" + ConsulFormat.goDuration(ttl) + "), was "
                        + ConsulFormat.goDuration(beat));
            }
            positive("deregisterAfter", deregisterAfter);
            positive("wait", wait);
            if (wait.compareTo(MAX_WAIT) > 0) {
                throw bad("wait", "must be at most 10m (Consul's limit for blocking queries), was "
                        + ConsulFormat.goDuration(wait));
            }
            positive("timeout", timeout);
            for (String tag : tags) {
                if (tag == null || tag.isBlank()) {
                    throw bad("tags", "must not hold a blank tag");
                }
                if (tag.startsWith(ConsulFormat.VERSION_TAG)) {
                    throw bad("tags", "must not hold a 'version=' tag (written from the instance's version), was '"
                            + tag + "'");
                }
            }
            if (token != null && token.isBlank()) {
                throw bad("token", "must not be blank");
            }
            if (datacenter != null && datacenter.isBlank()) {
                throw bad("dc", "must not be blank");
            }
            boolean tlsFiles = caFile != null || certFile != null || sslContext != null;
            if (Boolean.FALSE.equals(tls) && tlsFiles) {
                throw bad("tls", "is false but caFile, certFile or an SSL context is given");
            }
            if (sslContext != null && (caFile != null || certFile != null)) {
                throw bad("caFile", "cannot be combined with a ready-made SSL context");
            }
            URI agent = agent(Boolean.TRUE.equals(tls) || tlsFiles || address.startsWith("https://"));
            boolean secure = agent.getScheme().equals("https");
            SSLContext context = sslContext;
            String tlsDescription = null;
            if (secure) {
                if (context == null && (caFile != null || certFile != null)) {
                    context = ConsulTls.context(caFile, certFile, keyFile);
                }
                tlsDescription = (caFile == null ? "" : "caFile=" + caFile + " ")
                        + (certFile == null ? "" : "certFile=" + certFile + " keyFile=" + keyFile + " ")
                        + (sslContext == null ? "" : "custom SSL context ") + "on";
            }
            return new ConsulConfig(agent, token, datacenter, ttl, beat, deregisterAfter, tcpCheck, tags, wait,
                    timeout, passingOnly, context, tlsDescription);
        }

        private URI agent(boolean secure) {
            String text = address.contains("://") ? address : (secure ? "https://" : "http://") + address;
            try {
                URI uri = new URI(text);
                String scheme = uri.getScheme();
                if (!"http".equals(scheme) && !"https".equals(scheme)) {
                    throw bad("address", "must be host:port or an http(s) URI, was '" + address + "'");
                }
                if (secure && scheme.equals("http")) {
                    throw bad("tls", "is on but the address is http://");
                }
                if (uri.getHost() == null || uri.getRawUserInfo() != null || uri.getRawQuery() != null
                        || (uri.getRawPath() != null && !uri.getRawPath().isEmpty() && !uri.getRawPath().equals("/"))) {
                    throw bad("address", "must be host:port with no user, path or query, was '" + address + "'");
                }
                int port = uri.getPort() > 0 ? uri.getPort() : scheme.equals("https") ? 8501 : 8500;
                return new URI(scheme, null, uri.getHost(), port, "/", null, null);
            } catch (URISyntaxException e) {
                throw bad("address", "must be host:port, was '" + address + "' (" + e.getReason() + ")");
            }
        }

        private static void positive(String option, Duration d) {
            if (d.toMillis() < 1) {
                throw bad(option, "must be at least 1ms, was " + d);
            }
        }

        private static InvalidOptionException bad(String option, String rule) {
            return new InvalidOptionException(option, "consul option '" + option + "' " + rule);
        }

        @Override
        public String toString() {
            return "ConsulRegistry.Builder{address=" + address + (token == null ? "" : ", token=***") + "}";
        }
    }
}
