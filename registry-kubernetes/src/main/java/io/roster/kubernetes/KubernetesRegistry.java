package io.roster.kubernetes;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodList;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceList;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceList;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.FilterWatchListDeletable;
import io.fabric8.kubernetes.client.dsl.PodResource;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.fabric8.kubernetes.client.dsl.ServiceResource;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.jdkhttp.JdkHttpClientFactory;
import io.fabric8.kubernetes.client.jdkhttp.JdkHttpClientImpl;
import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryClosedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.AbstractRegistry;
import io.roster.spi.Options;
import io.roster.spi.Backoff;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Durations;
import io.roster.spi.RegistryUri;
import io.roster.spi.RetryTask;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * A registry on Kubernetes, wire-compatible with Go Kratos's {@code kuberegistry}: a process registers by labelling
 * and annotating the pod it runs in, and discovery lists the pods that carry a service's label and can take traffic.
 *
 * <pre>{@code
 * try (Registry registry = Registries.open("kubernetes://?namespace=shop")) { ... }   // or kubernetes:/// in a pod
 * // or
 * try (Registry registry = KubernetesRegistry.builder().client(existingClient).namespace("shop").build()) { ... }
 * }</pre>
 *
 * <p><b>Registration</b> ({@link Mode#POD}, the default) patches the pod named by {@code POD_NAME} (else
 * {@code HOSTNAME}) in the registry's namespace with Kratos's labels {@code kratos-service-id}, {@code -app},
 * {@code -version} and annotations {@code kratos-service-metadata}, {@code kratos-service-protocols}; deregistering
 * removes them, and only when the pod still carries this registration. A pod holds one registration: registering a
 * second instance from one pod is an {@link InvalidInstanceException}. A name, version or id that is not a valid
 * Kubernetes label value, an endpoint that is not on the pod's IP and a declared container port, and a missing pod name
 * or namespace are refused before any request. There is no TTL: the instance lives and dies with the pod, and is listed
 * while the pod is Running, Ready and not terminating. While registered, the registry watches its own pod and puts the
 * labels back when someone removes or changes them (a redeploy patch, {@code kubectl label}), retrying with backoff
 * until it succeeds, {@code deregister} or {@code close}.
 *
 * <p><b>Discovery</b> lists the pods labelled {@code kratos-service-app=<name>} in the namespace, or in every namespace
 * with {@link Builder#allNamespaces(boolean)}. A watch runs one fabric8 informer per service (see
 * {@link KubernetesWatch}). {@link Mode#SERVICE} discovers Kubernetes Services by name from their EndpointSlices
 * instead (see {@link EndpointSlices}) and cannot register.
 *
 * <p>Threads: {@code roster-kubernetes-watch-1}, {@code roster-kubernetes-register-1} and, for a client the registry
 * creates, {@code roster-kubernetes-client-<n>} plus the JDK HttpClient's; all end with {@link #close()}. A client given
 * to the builder is left open. The RBAC a service account needs is in the module's README.
 */
public final class KubernetesRegistry extends AbstractRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(KubernetesRegistry.class);
    /** The registry of this JVM that holds each pod's registration, by {@code namespace/pod}. */
    private static final Map<String, KubernetesRegistry> POD_HOLDERS = new ConcurrentHashMap<>();
    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
    private static final Pattern DNS_SUBDOMAIN = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
    private static final int CONFLICT_RETRIES = 5;

    /** What a registry reads. */
    public enum Mode {
        /** Pods carrying Kratos's labels; registration labels this process's pod. The default. */
        POD,
        /** Kubernetes Services, read from their EndpointSlices; read-only. */
        SERVICE
    }

    private volatile KubernetesClient client; // dropped on close, so that the JDK HttpClient's thread can end
    private final boolean ownsClient;
    private final Mode mode;
    private final String namespace;
    private final boolean allNamespaces;
    private final String podName;
    private final String podNameSource;
    private final Duration timeout;
    private final ScheduledExecutorService watchThread;
    private final ScheduledExecutorService registerThread;
    private final RetryTask reconcile;

    // Guarded by registrationLock().
    /** The id of the registration the pod may carry because this registry wrote it (or tried); null when none. */
    private String written;
    /** The informer on this registry's own pod, while something is registered. */
    private SharedIndexInformer<Pod> guard;
    /** What the pod must carry; read by the guard's handler. */
    private volatile ServiceInstance current;

    private KubernetesRegistry(Builder b, KubernetesClient client, boolean ownsClient, String namespace,
                               String description) {
        super(description);
        this.client = client;
        this.ownsClient = ownsClient;
        this.mode = b.mode;
        this.namespace = namespace;
        this.allNamespaces = b.allNamespaces;
        this.podName = b.podName;
        this.podNameSource = b.podNameSource;
        this.timeout = b.timeout;
        this.watchThread = DaemonThreadFactory.scheduler("roster-kubernetes-watch");
        this.registerThread = DaemonThreadFactory.scheduler("roster-kubernetes-register");
        this.reconcile = new RetryTask(description + ": make the pod carry the registration", registerThread,
                new Backoff(Duration.ofMillis(100), Duration.ofSeconds(5)), this::reconcile);
    }

    /**
     * Starts a builder.
     *
     * @return a builder for pod mode, with the client's usual configuration and a 10 s timeout
     */
    public static Builder builder() {
        return new Builder();
    }

    // ---------------------------------------------------------------------------------------------- registration

    @Override
    protected void doRegister(ServiceInstance instance, ServiceInstance previous) {
        requireRegistrable(instance);
        ServiceInstance other = current;
        if (other != null && previous == null) {
            throw new InvalidInstanceException("instance", "cannot be registered: pod " + podKey() + " carries "
                    + other.name() + "/" + other.id() + ", registered by this registry, and a pod holds one "
                    + "registration (Kratos's pod labels); deregister it first, or run the other service in a pod of "
                    + "its own", "(was " + instance.name() + "/" + instance.id() + ")");
        }
        KubernetesRegistry holder = POD_HOLDERS.putIfAbsent(podKey(), this);
        if (holder != null && holder != this) {
            throw new InvalidInstanceException("instance", "cannot be registered: another KubernetesRegistry of "
                    + "this process holds the registration of pod " + podKey() + ", and a pod holds one registration "
                    + "(Kratos's pod labels)", "(was " + instance.name() + "/" + instance.id() + ")");
        }
        boolean done = false;
        try {
            Pod pod = ownPod("register " + instance.name() + "/" + instance.id());
            PodLayout.requireServable(instance, pod);
            String before = PodLayout.registeredId(pod);
            if (before != null && !before.equals(instance.id()) && !before.equals(written)) {
                LOG.info("{}: pod {} carries registration {} of an earlier process; replacing it with {}/{}",
                        description(), podKey(), before, instance.name(), instance.id());
            }
            String writtenBefore = written;
            written = instance.id();
            try {
                patchOwnPod("register " + instance.name() + "/" + instance.id(), PodLayout.registerPatch(instance));
            } catch (RegistryAccessDeniedException | InvalidInstanceException refused) {
                written = writtenBefore; // refused outright: nothing landed
                throw refused;
            }
            current = instance;
            startGuard();
            done = true;
        } finally {
            if (!done && current == null) {
                if (written != null) {
                    reconcile.trigger(); // the patch may have landed: take it back, as nothing is registered
                } else {
                    POD_HOLDERS.remove(podKey(), this);
                }
            } else if (!done) {
                reconcile.trigger(); // an update failed: make the pod carry the registration still in the book
            }
        }
    }

    @Override
    protected void doDeregister(ServiceInstance instance, boolean owned) {
        if (!owned || mode != Mode.POD) {
            // Another process's instance, or one of an earlier registry: its pod is its own business.
            LOG.debug("{}: {}/{} was not registered by this registry; nothing to remove", description(),
                    instance.name(), instance.id());
            return;
        }
        current = null; // from now on the guard leaves the pod alone
        try {
            removeRegistration(instance.id());
            written = null;
            POD_HOLDERS.remove(podKey(), this);
        } catch (RegistryException e) {
            reconcile.trigger(); // removed once the API server lets us; never put back, as the book no longer has it
            throw e;
        } finally {
            stopGuard(); // after the patch, so that the guard's watch is not closing while its event is sent
        }
    }

    /** Checks everything that needs no request: mode, pod name, namespace, and the instance's label values. */
    private void requireRegistrable(ServiceInstance instance) {
        if (mode != Mode.POD) {
            throw new InvalidOptionException("mode", "kubernetes mode=service is read-only: it discovers Services "
                    + "from their EndpointSlices; register from a registry in pod mode, which labels the pod the "
                    + "process runs in");
        }
        if (podName == null) {
            throw new InvalidOptionException("pod", "kubernetes registration labels the pod this process runs in, "
                    + "but its name is unknown: set the environment variable POD_NAME from the downward API "
                    + "(env: - name: POD_NAME, valueFrom: fieldRef: fieldPath: metadata.name), or the option 'pod'");
        }
        if (podName.length() > 253 || !DNS_SUBDOMAIN.matcher(podName).matches()) {
            throw new InvalidOptionException("pod", "kubernetes pod name '" + podName + "' (from " + podNameSource
                    + ") is not a valid pod name; set POD_NAME from the downward API (metadata.name)");
        }
        if (namespace == null) {
            throw new InvalidOptionException("namespace", "kubernetes registration needs the pod's namespace: give "
                    + "the option 'namespace' (the service account's namespace file was not found)");
        }
        PodLayout.requireWritable(instance);
    }

    /**
     * Removes the registration {@code id} from the pod if the pod still carries it, on condition of the pod's version,
     * so that a registration written meanwhile by anyone is never removed.
     */
    private void removeRegistration(String id) {
        for (int attempt = 1; ; attempt++) {
            Pod pod;
            try {
                pod = ownPod("deregister " + id);
            } catch (InvalidOptionException gone) {
                return; // no pod, no labels
            }
            if (!id.equals(PodLayout.registeredId(pod))) {
                return; // removed already, or another registration now
            }
            try {
                patchOwnPod("deregister " + id, PodLayout.removePatch(pod.getMetadata().getResourceVersion()));
                return;
            } catch (Conflict e) {
                if (attempt == CONFLICT_RETRIES) {
                    throw new RegistryUnavailableException(description() + ": deregister " + id + " failed: pod "
                            + podKey() + " changed " + attempt + " times while removing the labels", e);
                }
            }
        }
    }

    /**
     * The reconciliation run by {@link #reconcile} until it succeeds: make the pod carry what the book holds — put the
     * labels back when they are missing or changed, or remove a registration that was deregistered (or whose
     * registration failed) while the API server could not be reached.
     */
    private void reconcile() {
        registrationLock().lock();
        try {
            if (isClosed()) {
                return;
            }
            List<ServiceInstance> book = registrations();
            if (!book.isEmpty()) {
                ServiceInstance want = book.get(0);
                Pod pod;
                try {
                    pod = ownPod("restore " + want.name() + "/" + want.id());
                } catch (InvalidOptionException gone) {
                    LOG.warn("{}: pod {} is gone; its registration {}/{} went with it", description(), podKey(),
                            want.name(), want.id());
                    return;
                }
                if (!PodLayout.carries(pod, want)) {
                    LOG.info("{}: pod {} lost or changed the labels of {}/{} (removed by someone else?); putting them "
                            + "back", description(), podKey(), want.name(), want.id());
                    written = want.id();
                    patchOwnPod("restore " + want.name() + "/" + want.id(), PodLayout.registerPatch(want));
                }
            } else if (written != null) {
                removeRegistration(written);
                written = null;
                POD_HOLDERS.remove(podKey(), this);
            }
        } finally {
            registrationLock().unlock();
        }
    }

    /** Watches this registry's own pod while registered, so that removed labels are put back. Under the lock. */
    private void startGuard() {
        if (guard != null) {
            return;
        }
        SharedIndexInformer<Pod> informer = client().pods().inNamespace(namespace).withName(podName).runnableInformer(0);
        informer.addEventHandler(new ResourceEventHandler<>() {
            @Override
            public void onAdd(Pod pod) {
                check(pod);
            }

            @Override
            public void onUpdate(Pod oldPod, Pod pod) {
                check(pod);
            }

            @Override
            public void onDelete(Pod pod, boolean deletedFinalStateUnknown) {
                // The pod is going away, and its registration with it.
            }

            private void check(Pod pod) {
                ServiceInstance want = current;
                if (want != null && !PodLayout.carries(pod, want)) {
                    reconcile.trigger();
                }
            }
        });
        informer.exceptionHandler((started, t) -> {
            LOG.debug("{}: the watch on pod {} was interrupted, retrying: {}", description(), podKey(), t.toString());
            return true;
        });
        informer.start(); // not awaited: registration does not depend on it
        guard = informer;
    }

    private void stopGuard() {
        if (guard != null) {
            guard.close();
            guard = null;
        }
    }

    private Pod ownPod(String action) {
        Pod pod = call(action, () -> client().pods().inNamespace(namespace).withName(podName).get());
        if (pod == null) {
            throw new InvalidOptionException("pod", "kubernetes pod " + podKey() + " (name from " + podNameSource
                    + ") does not exist: the registry labels the pod this process runs in; set POD_NAME from the "
                    + "downward API (metadata.name)");
        }
        return pod;
    }

    private void patchOwnPod(String action, String mergePatch) {
        call(action, () -> client().pods().inNamespace(namespace).withName(podName)
                .patch(PatchContext.of(PatchType.JSON_MERGE), mergePatch));
    }

    private String podKey() {
        return namespace + "/" + podName;
    }

    // ---------------------------------------------------------------------------------------------- discovery

    @Override
    protected List<ServiceInstance> doGetService(String name) {
        if (!PodLayout.isLabelValue(name)) {
            return List.of(); // no pod or slice can carry it, and the API server refuses it in a label selector
        }
        List<ServiceInstance> found = new ArrayList<>();
        if (mode == Mode.POD) {
            for (Pod pod : call("getService " + name, () -> pods().withLabel(PodLayout.APP, name).list().getItems())) {
                PodLayout.read(pod).filter(i -> i.name().equals(name)).ifPresent(found::add);
            }
        } else {
            List<EndpointSlice> slices = call("getService " + name,
                    () -> slices().withLabel(EndpointSlices.SERVICE_NAME, name).list().getItems());
            Map<String, Service> services = new HashMap<>();
            if (!slices.isEmpty()) {
                for (Service s : call("getService " + name,
                        () -> serviceObjects().withField("metadata.name", name).list().getItems())) {
                    services.put(s.getMetadata().getNamespace(), s);
                }
            }
            for (EndpointSlice slice : slices) {
                found.addAll(EndpointSlices.read(slice, services.get(slice.getMetadata().getNamespace()), name)
                        .values());
            }
        }
        return found;
    }

    @Override
    protected Collection<String> doServices() {
        Set<String> names = new TreeSet<>();
        if (mode == Mode.POD) {
            for (Pod pod : call("list services", () -> pods().withLabel(PodLayout.APP).list().getItems())) {
                PodLayout.read(pod).ifPresent(i -> names.add(i.name()));
            }
        } else {
            for (EndpointSlice slice : call("list services",
                    () -> slices().withLabel(EndpointSlices.SERVICE_NAME).list().getItems())) {
                String name = EndpointSlices.serviceName(slice);
                if (name != null && !name.isEmpty() && EndpointSlices.hasReadyEndpoint(slice)) {
                    names.add(name);
                }
            }
        }
        return names;
    }

    @Override
    protected WatchHub.Subscription subscribe(String name, WatchHub.Sink sink) {
        if (!PodLayout.isLabelValue(name)) {
            sink.accept(List.of()); // as getService: nothing can carry it, and nothing is asked
            return () -> { };
        }
        KubernetesWatch watch;
        String where = allNamespaces ? "all namespaces" : "namespace " + namespace;
        if (mode == Mode.POD) {
            watch = new KubernetesWatch("pods of " + name + " in " + where,
                    pods().withLabel(PodLayout.APP, name).runnableInformer(0), null,
                    (key, pod) -> PodLayout.read((Pod) pod).filter(i -> i.name().equals(name))
                            .map(i -> Map.of(key, i)).orElse(Map.of()),
                    sink, watchThread);
        } else {
            SharedIndexInformer<Service> services = serviceObjects().withField("metadata.name", name).runnableInformer(0);
            watch = new KubernetesWatch("EndpointSlices of Service " + name + " in " + where,
                    slices().withLabel(EndpointSlices.SERVICE_NAME, name).runnableInformer(0), services,
                    (key, slice) -> EndpointSlices.read((EndpointSlice) slice, services.getStore()
                            .getByKey(slice.getMetadata().getNamespace() + "/" + name), name),
                    sink, watchThread);
        }
        try {
            watch.start(timeout);
        } catch (ExecutionException e) {
            throw apiFailure("watch " + name, e.getCause());
        } catch (TimeoutException e) {
            throw new RegistryUnavailableException(description() + ": watch " + name + " failed: no first list within "
                    + Durations.format(timeout), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RegistryUnavailableException(description() + ": watch " + name + " was interrupted", e);
        } catch (Exception e) {
            throw apiFailure("watch " + name, e);
        }
        return watch;
    }

    // ---------------------------------------------------------------------------------------------- inspection

    /** What this registry reads, for {@link KubernetesInspector}. */
    Mode mode() {
        return mode;
    }

    /** Where it reads, such as {@code namespace shop}. */
    String scope() {
        return allNamespaces ? "all namespaces" : "namespace " + namespace;
    }

    /** Every pod carrying the service label, whatever its value (or that value), as stored; for inspection. */
    List<Pod> rawPods(String service) {
        return call("inspect pods", () -> (service == null ? pods().withLabel(PodLayout.APP)
                : pods().withLabel(PodLayout.APP, service)).list().getItems());
    }

    /** Every EndpointSlice of a Service (or of that one), as stored; for inspection. */
    List<EndpointSlice> rawSlices(String service) {
        return call("inspect EndpointSlices", () -> (service == null ? slices().withLabel(EndpointSlices.SERVICE_NAME)
                : slices().withLabel(EndpointSlices.SERVICE_NAME, service)).list().getItems());
    }

    /** The Services (or that one), for their labels; for inspection. */
    List<Service> rawServices(String service) {
        return call("inspect Services", () -> (service == null ? serviceObjects()
                : serviceObjects().withField("metadata.name", service)).list().getItems());
    }

    private FilterWatchListDeletable<Pod, PodList, PodResource> pods() {
        return allNamespaces ? client().pods().inAnyNamespace() : client().pods().inNamespace(namespace);
    }

    private FilterWatchListDeletable<EndpointSlice, EndpointSliceList, Resource<EndpointSlice>> slices() {
        return allNamespaces ? client().discovery().v1().endpointSlices().inAnyNamespace()
                : client().discovery().v1().endpointSlices().inNamespace(namespace);
    }

    private FilterWatchListDeletable<Service, ServiceList, ServiceResource<Service>>
            serviceObjects() {
        return allNamespaces ? client().services().inAnyNamespace() : client().services().inNamespace(namespace);
    }

    // ---------------------------------------------------------------------------------------------- plumbing

    private KubernetesClient client() {
        KubernetesClient c = client;
        if (c == null) {
            throw new RegistryClosedException(description() + " is closed");
        }
        return c;
    }

    /** A 409 from the API server: the precondition of a conditional patch failed. */
    private static final class Conflict extends RegistryException {
        private static final long serialVersionUID = 1L;

        Conflict(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private <T> T call(String action, Supplier<T> request) {
        try {
            return request.get();
        } catch (KubernetesClientException e) {
            if (e.getCode() == 409) {
                throw new Conflict(description() + ": " + action + ": " + e.getMessage(), e);
            }
            throw apiFailure(action, e);
        } catch (RegistryException e) {
            throw e;
        } catch (RuntimeException e) {
            throw apiFailure(action, e);
        }
    }

    private RegistryException apiFailure(String action, Throwable cause) {
        if (cause instanceof KubernetesClientException) {
            int code = ((KubernetesClientException) cause).getCode();
            if (code == 401 || code == 403) {
                return new RegistryAccessDeniedException(description() + " refused to " + action + " (HTTP " + code
                        + "): the service account needs the Role in registry-kubernetes's README (get, list, watch "
                        + "and patch pods; list and watch endpointslices and services for mode=service)", cause);
            }
            if (code == 422) {
                return new InvalidInstanceException("instance", "was refused by the API server (" + action + "): "
                        + cause.getMessage(), "");
            }
        }
        return unavailable(action, cause);
    }

    // ---------------------------------------------------------------------------------------------- lifecycle

    @Override
    protected void shutdown() {
        reconcile.close();
        registrationLock().lock();
        try {
            stopGuard();
            current = null;
        } finally {
            registrationLock().unlock();
        }
        POD_HOLDERS.remove(podKey(), this);
        watchThread.shutdownNow();
        registerThread.shutdownNow();
        KubernetesClient c = client;
        client = null;
        if (ownsClient && c != null) {
            c.close();
        }
    }

    /** Stops as a crashed process would: the labels stay on the pod. */
    void kill() {
        abandon();
    }

    /** The client, for tests that open registries of several pods on one client. */
    KubernetesClient clientForTests() {
        return client();
    }

    /** Tells tests whether the watch on the registry's own pod is established. */
    boolean guarding() {
        registrationLock().lock();
        try {
            return guard != null && guard.isWatching();
        } finally {
            registrationLock().unlock();
        }
    }

    /** Tells tests whether a reconciliation is under way. */
    boolean reconciling() {
        return reconcile.isBusy();
    }

    /**
     * fabric8's JDK HttpClient factory with an executor that lets the client end cleanly. fabric8's own shuts its pool
     * down on close, and a WebSocket whose closing handshake is still in flight (an informer closed just before the
     * client) then never completes: the JDK counts it as pending forever, and its selector thread never ends. Here,
     * tasks that arrive after close run on the calling thread instead, so that such exchanges finish and the selector
     * thread ends once the client is collected (Java 17's HttpClient has no close()).
     */
    private static final class JdkClientFactory extends JdkHttpClientFactory {
        private final List<HttpExecutor> executors = new CopyOnWriteArrayList<>();

        @Override
        protected HttpClient.Builder createNewHttpClientBuilder() {
            HttpExecutor executor = new HttpExecutor();
            executors.add(executor);
            return HttpClient.newBuilder().executor(executor);
        }

        @Override
        protected void closeHttpClient(JdkHttpClientImpl client) {
            executors.forEach(HttpExecutor::close);
        }
    }

    /** A daemon pool while open; after {@link #close()}, the caller runs the task. */
    private static final class HttpExecutor implements Executor {
        private final ExecutorService pool = Executors.newCachedThreadPool(new DaemonThreadFactory("roster-kubernetes-http"));
        private volatile boolean closed;

        @Override
        public void execute(Runnable task) {
            if (!closed) {
                try {
                    pool.execute(task);
                    return;
                } catch (RejectedExecutionException e) {
                    // closed meanwhile
                }
            }
            task.run();
        }

        void close() {
            closed = true;
            pool.shutdownNow();
        }
    }

    /**
     * Builds a {@link KubernetesRegistry}: either on a {@link KubernetesClient} of the caller's (left open on close),
     * or on a client the registry creates from a fabric8 {@link Config}, by default the client's usual configuration
     * ({@code ~/.kube/config} and its current context, or the pod's service account inside a cluster, and the
     * {@code KUBERNETES_*} variables).
     */
    public static final class Builder {
        private KubernetesClient client;
        private Config config;
        private String context;
        private String namespace;
        private boolean allNamespaces;
        private String podName;
        private String podNameSource;
        private Mode mode = Mode.POD;
        private Duration timeout = Duration.ofSeconds(10);
        private Function<String, String> environment = System::getenv;
        private Path serviceAccountNamespace = Path.of("/var/run/secrets/kubernetes.io/serviceaccount/namespace");

        private Builder() {
        }

        /**
         * Uses a client of the caller's; {@link KubernetesRegistry#close()} leaves it open, and its configuration
         * (server, credentials, timeouts, HTTP client) applies.
         *
         * @param client the client
         * @return this builder
         */
        public Builder client(KubernetesClient client) {
            this.client = Options.required(client, "client");
            return this;
        }

        /**
         * Creates the registry's client from this configuration instead of the usual one; the registry closes it.
         *
         * @param config a fabric8 configuration
         * @return this builder
         */
        public Builder config(Config config) {
            this.config = Options.required(config, "config");
            return this;
        }

        /**
         * Creates the registry's client from this context of the kubeconfig instead of its current context.
         *
         * @param context a context name of {@code ~/.kube/config} (or {@code KUBECONFIG})
         * @return this builder
         */
        public Builder context(String context) {
            this.context = requireText("context", context);
            return this;
        }

        /**
         * Sets the namespace: where the pod is registered and where discovery looks. Default: the pod's own namespace
         * from the service account's namespace file, else the client's namespace (the kubeconfig context's).
         *
         * @param namespace a namespace name
         * @return this builder
         * @throws InvalidOptionException when it is not a valid namespace name
         */
        public Builder namespace(String namespace) {
            if (namespace == null || namespace.length() > 63 || !DNS_LABEL.matcher(namespace).matches()) {
                throw new InvalidOptionException("namespace", "kubernetes option 'namespace' must be a namespace name "
                        + "(lower-case letters, digits and '-', at most 63), was '" + namespace + "'");
            }
            this.namespace = namespace;
            return this;
        }

        /**
         * Discovers in every namespace instead of one (Kratos's {@code NewRegistry(clientset, "")}): a service's
         * instances then mix across namespaces. Registration still labels the pod in its own namespace. Needs a
         * ClusterRole to list and watch pods cluster-wide.
         *
         * @param allNamespaces whether to discover across all namespaces; default false
         * @return this builder
         */
        public Builder allNamespaces(boolean allNamespaces) {
            this.allNamespaces = allNamespaces;
            return this;
        }

        /**
         * Names the pod this process runs in, which registration labels. Default: the environment variable
         * {@code POD_NAME} (set it from the downward API), else {@code HOSTNAME} (a pod's default host name is its name,
         * unless the pod sets {@code hostname} or runs on the host network).
         *
         * @param podName the pod's name
         * @return this builder
         */
        public Builder podName(String podName) {
            this.podName = requireText("pod", podName);
            this.podNameSource = "the option 'pod'";
            return this;
        }

        /**
         * Chooses what the registry reads: Kratos-labelled pods (default) or Services' EndpointSlices (read-only).
         *
         * @param mode the mode
         * @return this builder
         */
        public Builder mode(Mode mode) {
            this.mode = Options.required(mode, "mode");
            return this;
        }

        /**
         * Sets how long a watch may take to list a service first, and, for a client the registry creates, its
         * connection and request timeouts.
         *
         * @param timeout a positive duration; default 10 s
         * @return this builder
         * @throws InvalidOptionException when not positive
         */
        public Builder timeout(Duration timeout) {
            Options.required(timeout, "timeout");
            if (timeout.isZero() || timeout.isNegative()) {
                throw new InvalidOptionException("timeout", "kubernetes option 'timeout' must be positive");
            }
            this.timeout = timeout;
            return this;
        }

        /** For tests: where environment variables come from. */
        Builder environment(Function<String, String> environment) {
            this.environment = environment;
            return this;
        }

        /** For tests: where the service account's namespace file is. */
        Builder serviceAccountNamespace(Path file) {
            this.serviceAccountNamespace = file;
            return this;
        }

        /**
         * Opens the registry. Nothing is sent to the API server yet.
         *
         * @return an open registry
         * @throws InvalidOptionException when the options conflict, or no namespace can be found and discovery is not
         *     across all namespaces
         */
        public KubernetesRegistry build() {
            if (client != null && (config != null || context != null)) {
                throw new InvalidOptionException("client", "a kubernetes client given to the builder brings its own "
                        + "configuration; do not set 'config' or 'context' as well");
            }
            if (config != null && context != null) {
                throw new InvalidOptionException("context", "kubernetes options 'config' and 'context' exclude each "
                        + "other: a given configuration has its context already");
            }
            if (podName == null) {
                for (String variable : List.of("POD_NAME", "HOSTNAME")) {
                    String value = environment.apply(variable);
                    if (value != null && !value.isBlank()) {
                        podName = value.trim();
                        podNameSource = "the environment variable " + variable;
                        break;
                    }
                }
            }
            Config effective = client != null ? client.getConfiguration()
                    : config != null ? new ConfigBuilder(config).withHttp2Disable(true).build()
                    : clientConfig();
            String ns = namespace;
            if (ns == null) {
                ns = readNamespaceFile();
            }
            if (ns == null) {
                ns = effective.getNamespace();
            }
            if (ns == null && !allNamespaces) {
                throw new InvalidOptionException("namespace", "kubernetes needs a namespace: give the option "
                        + "'namespace' (or 'allNamespaces=true' to discover across all of them); inside a pod the "
                        + "service account's namespace file gives it, outside the kubeconfig context's namespace");
            }
            String description = "kubernetes at " + RegistryUri.redact(String.valueOf(effective.getMasterUrl()))
                    + (allNamespaces ? " (all namespaces" + (ns == null ? "" : ", pod namespace " + ns) + ")"
                    : " namespace " + ns) + (mode == Mode.SERVICE ? " (Services)" : "");
            KubernetesClient c = client;
            boolean owns = c == null;
            if (owns) {
                // HTTP/1.1 only: the registry sends a few requests and its watches are WebSockets (HTTP/1.1) anyway,
                // and every HTTP/1.1 connection sits in the JDK client's pool, which it closes when it stops. With
                // HTTP/2, two first requests at once open two connections, and on Java 17 the one the client does not
                // keep stays established after close.

                c = new KubernetesClientBuilder()
                        .withConfig(effective)
                        .withHttpClientFactory(new JdkClientFactory())
                        .withTaskExecutorSupplier(new KubernetesClientBuilder.ExecutorSupplier() {
                            @Override
                            public Executor get() {
                                return Executors.newCachedThreadPool(
                                        new DaemonThreadFactory("roster-kubernetes-client"));
                            }

                            @Override
                            public void onClose(Executor executor) {
                                ((ExecutorService) executor).shutdownNow();
                            }
                        })
                        .build();
            }
            return new KubernetesRegistry(this, c, owns, ns, description);
        }

        /** The usual configuration, with the registry's timeout and without fabric8's own request retries. */
        private Config clientConfig() {
            Config c = Config.autoConfigure(context);
            int millis = (int) Math.min(Integer.MAX_VALUE, timeout.toMillis());
            c.setConnectionTimeout(millis);
            c.setRequestTimeout(millis);
            // The registry retries what is safe to retry (RetryTask); a request fabric8 retried behind its back could
            // land after the caller was told it failed.
            c.setRequestRetryBackoffLimit(0);
            c.setHttp2Disable(true); // see build()
            return c;
        }

        private String readNamespaceFile() {
            try {
                String ns = Files.readString(serviceAccountNamespace, StandardCharsets.UTF_8).trim();
                return ns.isEmpty() ? null : ns;
            } catch (IOException | SecurityException e) {
                return null;
            }
        }

        private static String requireText(String option, String value) {
            if (value == null || value.isBlank()) {
                throw new InvalidOptionException(option, "kubernetes option '" + option + "' must not be blank");
            }
            return value.trim();
        }

        @Override
        public String toString() {
            return "KubernetesRegistry.Builder{mode=" + mode + (namespace == null ? "" : ", namespace=" + namespace)
                    + (allNamespaces ? ", allNamespaces" : "") + (podName == null ? "" : ", pod=" + podName)
                    + (context == null ? "" : ", context=" + context) + (client == null ? "" : ", client=given")
                    + (config == null ? "" : ", config=given") + ", timeout=" + Durations.format(timeout) + '}';
        }
    }
}
