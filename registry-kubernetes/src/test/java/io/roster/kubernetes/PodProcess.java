package io.roster.kubernetes;

import io.fabric8.kubernetes.api.model.ContainerPort;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.spi.Endpoints;

import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A process of the contract suite, on Kubernetes: it runs in a pod of its own (created in the mock), discovers through
 * a {@link KubernetesRegistry} of that pod, and — since a pod holds exactly one registration — runs every instance it
 * registers in a further pod of its own, created with the instance's IP and ports and registered by a
 * {@link KubernetesRegistry} of that pod, sharing the process's client. {@link #kill} turns every pod of the process
 * NotReady (its containers died) and abandons the registries; {@link #close} closes them, which removes the labels.
 *
 * <p>This is test code: a real pod runs one process with one registration. The contract's cases that register
 * several instances from one "registry" exercise several pods' registries here.
 */
final class PodProcess implements Registry {
    private static final AtomicInteger PODS = new AtomicInteger();

    private final KubernetesTestServer server;
    private final String homePod;
    private final KubernetesRegistry home;
    private final Map<String, KubernetesRegistry> registries = new LinkedHashMap<>(); // by name/id
    private final Map<String, String> pods = new LinkedHashMap<>(); // name/id -> pod

    PodProcess(KubernetesTestServer server) {
        this.server = server;
        this.homePod = "process-" + PODS.incrementAndGet();
        server.runPod(homePod, "127.0.0.1");
        this.home = KubernetesRegistry.builder().config(server.config()).namespace(KubernetesTestServer.NAMESPACE)
                .podName(homePod).build();
    }

    @Override
    public synchronized void register(ServiceInstance instance) {
        if (instance == null) {
            home.register(null); // the registry's own refusal
            return;
        }
        String key = instance.name() + "/" + instance.id();
        KubernetesRegistry registry = registries.get(key);
        if (registry != null) {
            registry.register(instance); // an update, by the registry that holds it
            return;
        }
        // What KubernetesRegistry checks before any request, checked before a pod is made for the instance.
        ServiceInstance.requireWritable(instance);
        PodLayout.requireWritable(instance);
        String pod = homePod + "-" + PODS.incrementAndGet();
        List<ContainerPort> ports = new ArrayList<>();
        for (URI e : instance.endpoints()) {
            ports.add(KubernetesTestServer.port(e.getScheme(), e.getPort()));
        }
        server.runPod(pod, Endpoints.host(instance.endpoints().get(0)), ports.toArray(new ContainerPort[0]));
        registry = KubernetesRegistry.builder().client(home.clientForTests()).namespace(KubernetesTestServer.NAMESPACE)
                .podName(pod).build();
        try {
            registry.register(instance);
        } catch (RuntimeException e) {
            registry.close();
            throw e;
        }
        registries.put(key, registry);
        pods.put(key, pod);
    }

    @Override
    public synchronized void deregister(ServiceInstance instance) {
        if (instance == null) {
            home.deregister(null); // the registry's own refusal
            return;
        }
        String key = instance.name() + "/" + instance.id();
        KubernetesRegistry registry = registries.remove(key);
        if (registry == null) {
            home.deregister(instance); // not this process's: its home registry must touch nothing
            return;
        }
        pods.remove(key);
        registry.deregister(instance);
        registry.close();
    }

    @Override
    public List<ServiceInstance> getService(String name) {
        return home.getService(name);
    }

    @Override
    public Watcher watch(String name) {
        return home.watch(name);
    }

    @Override
    public List<String> services() {
        return home.services();
    }

    /** The process dies: its pods turn NotReady, nothing is deregistered. */
    synchronized void kill() {
        for (Map.Entry<String, KubernetesRegistry> e : registries.entrySet()) {
            server.setReady(pods.get(e.getKey()), false);
            e.getValue().kill();
        }
        server.setReady(homePod, false);
        registries.clear();
        pods.clear();
        home.kill();
    }

    @Override
    public synchronized void close() {
        registries.values().forEach(KubernetesRegistry::close);
        registries.clear();
        pods.clear();
        home.close();
    }
}
