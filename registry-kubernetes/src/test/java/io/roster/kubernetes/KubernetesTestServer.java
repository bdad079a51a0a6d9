package io.roster.kubernetes;

import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.ContainerPortBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.dsl.PodResource;
import io.fabric8.kubernetes.client.jdkhttp.JdkHttpClientFactory;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.Response;
import io.fabric8.mockwebserver.http.WebSocket;
import io.fabric8.mockwebserver.http.WebSocketListener;
import io.roster.spi.DaemonThreadFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.UnaryOperator;

/**
 * fabric8's API-server stand-in in CRUD mode, on a free loopback port over plain HTTP, with helpers that play the
 * kubelet (pods that run, turn Ready or NotReady, terminate). No real API server can run on the build machines.
 *
 * <p>Where the mock differs from an API server, as far as this backend goes: strategic-merge patches are refused
 * with 415 (the registry sends JSON merge patches); a merge patch's {@code null} leaves the key with a null value
 * instead of removing it (readers ignore null labels, see {@code PodLayout.labelsOf}); a JSON patch whose
 * {@code test} fails gets no answer at all (the registry uses none); nothing defaults a container port's protocol to
 * TCP. Label selectors, field selectors on {@code metadata.name}, watches, status updates, resource versions with 409
 * conflicts on merge patches, and finalizers with {@code deletionTimestamp} behave as on a real API server.
 */
final class KubernetesTestServer implements AutoCloseable {
    static final String NAMESPACE = "shop";
    /** The mock logs every request through java.util.logging; kept quiet (a strong reference keeps the level). */
    private static final java.util.logging.Logger MOCK_LOG = quiet("io.fabric8.mockwebserver.MockWebServer");

    /** Runs the mock's watch-closing callbacks off its event loop (see {@link OffEventLoop}). */
    private static final ExecutorService CLOSER = Executors.newCachedThreadPool(new DaemonThreadFactory("mock-watch-closer"));
    /** Requests ("METHOD path-prefix") answered 403 Forbidden, as an API server does without the RBAC for them. */
    private final java.util.Set<String> forbidden = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final KubernetesCrudDispatcher dispatcher = new KubernetesCrudDispatcher(new ArrayList<>()) {
        @Override
        public MockResponse dispatch(io.fabric8.mockwebserver.http.RecordedRequest request) {
            for (String rule : forbidden) {
                String[] methodAndPath = rule.split(" ", 2);
                if (request.getMethod().equals(methodAndPath[0]) && request.getPath().startsWith(methodAndPath[1])) {
                    return new MockResponse().setResponseCode(403).setBody("{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                            + "\"status\":\"Failure\",\"reason\":\"Forbidden\",\"code\":403,\"message\":\"pods is "
                            + "forbidden: User \\\"system:serviceaccount:shop:default\\\" cannot " + rule + "\"}");
                }
            }
            return super.dispatch(request);
        }

        @Override
        public MockResponse handleWatch(String path) {
            MockResponse response = super.handleWatch(path);
            WebSocketListener listener = response.getWebSocketListener();
            return listener == null ? response : response.withWebSocketUpgrade(new OffEventLoop(listener));
        }
    };
    private final JdkHttpClientFactory clientFactory = new JdkHttpClientFactory();
    private KubernetesMockServer server;
    private int port;
    private final KubernetesClient client;

    private KubernetesTestServer() {
        server = newServer();
        server.start();
        port = server.getPort();
        client = new KubernetesClientBuilder().withConfig(config())
                .withHttpClientFactory(clientFactory)
                .withTaskExecutorSupplier(new KubernetesClientBuilder.ExecutorSupplier() {
                    @Override
                    public Executor get() {
                        return Executors.newCachedThreadPool(new DaemonThreadFactory("test-kubernetes-client"));
                    }

                    @Override
                    public void onClose(Executor executor) {
                        ((ExecutorService) executor).shutdownNow();
                    }
                })
                .build();
        client.namespaces().list(); // starts the helper client's threads before any test takes a thread snapshot
    }

    private static java.util.logging.Logger quiet(String name) {
        java.util.logging.Logger logger = java.util.logging.Logger.getLogger(name);
        logger.setLevel(java.util.logging.Level.WARNING);
        return logger;
    }

    /** A server of one's own, for tests that stop it or count its connections. */
    static KubernetesTestServer start() {
        return new KubernetesTestServer();
    }

    private static KubernetesTestServer shared;

    /**
     * The server most test classes share (tests use names of their own), started once per test JVM and closed when the
     * JVM exits: starting a server per class costs seconds.
     */
    static synchronized KubernetesTestServer shared() {
        if (shared == null) {
            KubernetesTestServer server = new KubernetesTestServer();
            Runtime.getRuntime().addShutdownHook(new Thread(server::close, "kubernetes-test-server-stop"));
            shared = server;
        }
        return shared;
    }

    private KubernetesMockServer newServer() {
        return new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
    }

    /** A configuration for registries' own clients: this server, namespace unset, short timeouts, no retries. */
    Config config() {
        return new ConfigBuilder(Config.empty())
                .withMasterUrl("http://127.0.0.1:" + port)
                .withRequestTimeout(5_000)
                .withConnectionTimeout(2_000)
                .withRequestRetryBackoffLimit(0)
                .withWatchReconnectInterval(200)
                .build();
    }

    /** The test's own client (not a registry's). */
    KubernetesClient client() {
        return client;
    }

    /** Stops answering (connections refused), keeping every object. */
    void stop() {
        server.shutdown();
    }

    /** Answers again on the same port, with the same objects. */
    void resume() {
        server = newServer();
        server.start(port);
    }

    /**
     * Edits objects while this server is stopped, through a second server on another port that shares its objects:
     * a change the registries under test cannot see happen (their connection is cut), as when an operator acts during
     * a network partition.
     */
    void editWhileStopped(java.util.function.Consumer<KubernetesClient> edit) {
        KubernetesMockServer side = newServer();
        side.start();
        try (KubernetesClient sideClient = new KubernetesClientBuilder()
                .withConfig(new ConfigBuilder(config()).withMasterUrl("http://127.0.0.1:" + side.getPort()).build())
                .withHttpClientFactory(clientFactory).build()) {
            edit.accept(sideClient);
        } finally {
            side.shutdown();
        }
    }

    /** The requests received since the last call (method and path), for messages about unexpected requests. */
    List<String> takeRequests() {
        List<String> taken = new ArrayList<>();
        try {
            for (io.fabric8.mockwebserver.http.RecordedRequest r; (r = server.takeRequest(0, java.util.concurrent.TimeUnit.MILLISECONDS)) != null; ) {
                taken.add(r.getMethod() + " " + r.getPath());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return taken;
    }

    /**
     * Answers matching requests 403 Forbidden from now on.
     *
     * @param method such as {@code PATCH}
     * @param pathPrefix such as {@code /api/v1/namespaces/shop/pods}
     * @return undoes it
     */
    AutoCloseable forbid(String method, String pathPrefix) {
        String rule = method + " " + pathPrefix;
        forbidden.add(rule);
        return () -> forbidden.remove(rule);
    }

    int port() {
        return port;
    }

    int requestCount() {
        return server.getRequestCount();
    }

    /** A threads of the server, of the test's own client, or fabric8's JVM-wide scheduler (see KubernetesThreadsTest). */
    boolean isServerThread(Thread t) {
        String n = t.getName();
        // vert.x and Netty: the server; pool-N-thread-M: the mock's executor per watch (every thread of a registry's
        // client has a name of its own)
        return n.startsWith("vert.x-") || n.startsWith("vertx-") || n.startsWith("globalEventExecutor")
                || n.startsWith("mock-watch-closer") || n.matches("pool-\\d+-thread-\\d+")
                || n.startsWith("test-kubernetes-client")
                || n.startsWith("JdkHttpClientFactory-" + System.identityHashCode(clientFactory) + "-")
                || n.startsWith("CachedSingleThreadScheduler-");
    }

    // ------------------------------------------------------------------------------------------------ pods

    static ContainerPort port(String name, int number) {
        return new ContainerPortBuilder().withName(name).withContainerPort(number).withProtocol("TCP").build();
    }

    /** Creates a pod that runs and is Ready, as the kubelet would leave it. */
    Pod runPod(String name, String ip, ContainerPort... ports) {
        return runPod(NAMESPACE, name, ip, ports);
    }

    Pod runPod(String namespace, String name, String ip, ContainerPort... ports) {
        return create(new PodBuilder()
                .withNewMetadata().withName(name).withNamespace(namespace).addToLabels("app", "roster-test").endMetadata()
                .withNewSpec().addNewContainer().withName("main").withImage("roster/test").withPorts(ports)
                .endContainer().endSpec()
                .withNewStatus().withPhase("Running").withPodIP(ip)
                .addNewCondition().withType("Ready").withStatus("True").endCondition().endStatus()
                .build());
    }

    Pod create(Pod pod) {
        return client.pods().inNamespace(pod.getMetadata().getNamespace()).resource(pod).create();
    }

    PodResource pod(String name) {
        return client.pods().inNamespace(NAMESPACE).withName(name);
    }

    void setReady(String name, boolean ready) {
        editStatus(name, pod -> {
            for (PodCondition c : pod.getStatus().getConditions()) {
                if (c.getType().equals("Ready")) {
                    c.setStatus(ready ? "True" : "False");
                }
            }
            return pod;
        });
    }

    void setPhase(String name, String phase) {
        editStatus(name, pod -> {
            pod.getStatus().setPhase(phase);
            return pod;
        });
    }

    private void editStatus(String name, UnaryOperator<Pod> edit) {
        Pod pod = edit.apply(pod(name).get());
        client.pods().inNamespace(NAMESPACE).resource(pod).updateStatus();
    }

    /** Deletes a pod that has a finalizer, so that it stays, terminating, with a deletionTimestamp. */
    void terminate(String name) {
        pod(name).edit(p -> new PodBuilder(p).editMetadata().addToFinalizers("roster.test/hold").endMetadata().build());
        pod(name).delete();
    }

    List<String> podNames() {
        List<String> names = new ArrayList<>();
        client.pods().inNamespace(NAMESPACE).list().getItems().forEach(p -> names.add(p.getMetadata().getName()));
        return names;
    }

    @Override
    public void close() {
        client.close();
        server.shutdown();
    }

    /**
     * The mock's watch listener, with its close callbacks moved off the server's event loop. The mock waits there for
     * the watch's sender thread to finish, while that thread waits on the event loop to write an event: a watch closed
     * while an event is on its way froze the whole server for 30 s (VertxMockWebSocket's write timeout). A real API
     * server has no such freeze, so the stand-in should not have it either.
     */
    private static final class OffEventLoop extends WebSocketListener {
        private final WebSocketListener delegate;

        OffEventLoop(WebSocketListener delegate) {
            this.delegate = delegate;
        }

        @Override
        public void onBeforeAccept(WebSocket webSocket, Response response) {
            delegate.onBeforeAccept(webSocket, response);
        }

        @Override
        public void onOpen(WebSocket webSocket, Response response) {
            delegate.onOpen(webSocket, response);
        }

        @Override
        public void onMessage(WebSocket webSocket, String text) {
            delegate.onMessage(webSocket, text);
        }

        @Override
        public void onMessage(WebSocket webSocket, byte[] bytes) {
            delegate.onMessage(webSocket, bytes);
        }

        @Override
        public void onClosing(WebSocket webSocket, int code, String reason) {
            delegate.onClosing(webSocket, code, reason);
        }

        @Override
        public void onClosed(WebSocket webSocket, int code, String reason) {
            CLOSER.execute(() -> delegate.onClosed(webSocket, code, reason));
        }

        @Override
        public void onFailure(WebSocket webSocket, Throwable t, Response response) {
            CLOSER.execute(() -> delegate.onFailure(webSocket, t, response));
        }
    }
}
