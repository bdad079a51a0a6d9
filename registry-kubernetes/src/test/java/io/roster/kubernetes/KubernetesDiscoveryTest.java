package io.roster.kubernetes;

import io.fabric8.kubernetes.api.model.PodBuilder;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import static io.roster.kubernetes.KubernetesTestServer.NAMESPACE;
import static io.roster.kubernetes.KubernetesTestServer.port;
import static io.roster.testkit.Watching.awaitIds;
import static io.roster.testkit.Watching.ids;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Which pods are instances: Running, Ready and not terminating only (Kratos also serves Pending-to-Running,
 * NotReady and terminating pods), followed by watchers as pods change state; namespaces.
 */
class KubernetesDiscoveryTest {
    private static final Duration BOUND = Duration.ofSeconds(10);
    private static final AtomicInteger PODS = new AtomicInteger();
    private static KubernetesTestServer server;
    private static KubernetesRegistry observer;

    @BeforeAll
    static void start() {
        server = KubernetesTestServer.shared();
        observer = KubernetesRegistry.builder().config(server.config()).namespace(NAMESPACE).build();
    }

    @AfterAll
    static void stop() {
        observer.close();
    }

    /** A pod labelled for the service, as a Kratos Deployment template would, in whatever state the caller makes. */
    private static String labelledPod(String service, String id) {
        return labelledPod(NAMESPACE, service, id);
    }

    private static String labelledPod(String namespace, String service, String id) {
        String name = "d-" + PODS.incrementAndGet();
        server.runPod(namespace, name, "10.2.0." + PODS.get() % 250, port("grpc", 9000));
        server.client().pods().inNamespace(namespace).withName(name).edit(p -> new PodBuilder(p).editMetadata()
                .addToLabels(PodLayout.ID, id).addToLabels(PodLayout.APP, service).endMetadata().build());
        return name;
    }

    @Test
    void aNameNoLabelCanHoldIsEmptyWithoutARequest() throws InterruptedException {
        int requests = server.requestCount();
        for (String name : List.of("_private.svc", "a b", "x".repeat(64))) {
            assertThat(observer.getService(name)).as(name).isEmpty();
            try (Watcher watcher = observer.watch(name)) {
                assertThat(watcher.next(BOUND)).as(name).contains(List.of());
            }
        }
        // The API server refuses such a label selector with 400; the mock would have answered.
        assertThat(server.requestCount()).as("%s", server.takeRequests()).isEqualTo(requests);
    }

    @Test
    void onlyRunningReadyPodsThatAreNotTerminatingAreListed() {
        String service = TestInstances.serviceName("states");
        String ready = labelledPod(service, "ready");
        String pending = labelledPod(service, "pending");
        server.setPhase(pending, "Pending");
        String notReady = labelledPod(service, "not-ready");
        server.setReady(notReady, false);
        String terminating = labelledPod(service, "terminating");
        server.terminate(terminating);
        String failed = labelledPod(service, "failed");
        server.setPhase(failed, "Failed");

        assertThat(server.pod(terminating).get().getMetadata().getDeletionTimestamp()).isNotNull();
        assertThat(ids(observer.getService(service))).containsExactly("ready");
        assertThat(observer.services()).contains(service);
        assertThat(ready).isNotNull();
    }

    @Test
    void aWatcherFollowsPodsTurningNotReadyReadyTerminatingAndGone() throws InterruptedException {
        String service = TestInstances.serviceName("transitions");
        String a = labelledPod(service, "a");
        String b = labelledPod(service, "b");
        try (Watcher watcher = observer.watch(service)) {
            awaitIds(watcher, BOUND, Set.of("a", "b"));

            server.setReady(a, false);
            awaitIds(watcher, BOUND, Set.of("b"));
            server.setReady(a, true);
            awaitIds(watcher, BOUND, Set.of("a", "b"));
            server.terminate(b);
            awaitIds(watcher, BOUND, Set.of("a"));
            server.pod(a).delete();
            awaitIds(watcher, BOUND, Set.of());
            String c = labelledPod(service, "c");
            server.setPhase(c, "Pending");
            server.setPhase(c, "Running");
            awaitIds(watcher, BOUND, Set.of("c"));
        }
    }

    @Test
    void aWatcherIsNotWokenByStatusChangesThatChangeNoInstance() throws InterruptedException {
        String service = TestInstances.serviceName("quiet");
        String a = labelledPod(service, "a");
        try (Watcher watcher = observer.watch(service)) {
            awaitIds(watcher, BOUND, Set.of("a"));
            server.pod(a).edit(p -> new PodBuilder(p).editMetadata().addToLabels("unrelated", "x").endMetadata().build());
            assertThat(watcher.next(Duration.ofSeconds(1))).isEmpty();
        }
    }

    @Test
    void discoveryStaysInItsNamespaceUnlessAllNamespacesAreAsked() throws InterruptedException {
        String service = TestInstances.serviceName("spread");
        labelledPod(service, "here");
        String elsewhere = labelledPod("other", service, "there");

        try (Registry everywhere = KubernetesRegistry.builder().config(server.config()).allNamespaces(true)
                .serviceAccountNamespace(java.nio.file.Path.of("target/no-such-file")).build()) {
            await(() -> ids(observer.getService(service)).equals(Set.of("here")));
            await(() -> ids(everywhere.getService(service)).equals(Set.of("here", "there")));
            assertThat(everywhere.services()).contains(service);
            try (Watcher watcher = everywhere.watch(service)) {
                awaitIds(watcher, BOUND, Set.of("here", "there"));
                server.client().pods().inNamespace("other").withName(elsewhere).delete();
                awaitIds(watcher, BOUND, Set.of("here"));
            }
        }
    }

    @Test
    void aLabelledPodReadIsTheSameInstanceForGetServiceAndWatchers() throws InterruptedException {
        String service = TestInstances.serviceName("same");
        labelledPod(service, "one");
        List<ServiceInstance> listed = observer.getService(service);
        try (Watcher watcher = observer.watch(service)) {
            assertThat(watcher.next(BOUND)).contains(listed);
        }
    }

    private static void await(java.util.concurrent.Callable<Boolean> condition) {
        org.awaitility.Awaitility.await().atMost(BOUND).until(condition);
    }
}
