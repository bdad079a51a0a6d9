package io.roster.eureka;

import io.roster.spi.Http;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.autoconfigure.security.servlet.UserDetailsServiceAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.cloud.netflix.eureka.server.EnableEurekaServer;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.security.config.Customizer;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.web.SecurityFilterChain;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;

/**
 * A real Eureka server (Spring Cloud Netflix {@code @EnableEurekaServer}, Spring Boot, Tomcat) running in the test
 * JVM on 127.0.0.1. Starting one takes several seconds, so test classes share one per class.
 *
 * <p>Public, and published in this module's test-jar, for the propagation benchmark ({@code benchmarks}), which runs
 * it in a JVM of its own.
 *
 * <p>Settings that keep the tests fast, each also a documented Eureka server property:
 * <ul>
 *   <li>{@code eureka.client.register-with-eureka=false}, {@code fetch-registry=false}: the server neither
 *       registers itself nor fetches from peers (a standalone node); {@code eureka.instance.hostname=127.0.0.1}
 *       with {@code defaultZone} pointing at itself, so that it has no peer to replicate to;</li>
 *   <li>{@code eureka.server.use-read-only-response-cache=false}: reads come from the read-write cache, which a
 *       register or cancel invalidates at once (the read-only cache would add up to
 *       {@code response-cache-update-interval-ms}, 30 s by default, to every change);</li>
 *   <li>{@code eureka.server.response-cache-auto-expiration-in-seconds=1}: that read-write cache (Guava) does not
 *       cancel a load in flight when a register invalidates it, so a read racing a register can cache the list
 *       from before it until the entry expires, 180 s by default; tests that register while watching hit that;</li>
 *   <li>{@code eureka.server.enable-self-preservation=false} and {@code renewal-percent-threshold=0}: expired
 *       leases are evicted, all of them in one run (the threshold otherwise limits a run to 15 % of the
 *       registry);</li>
 *   <li>{@code eureka.server.eviction-interval-timer-in-ms=500}: the eviction task runs twice a second, not every
 *       60 s;</li>
 *   <li>{@code eureka.server.wait-time-in-ms-when-sync-empty=0}: a node that found no peer at start serves reads
 *       at once (it refuses them with 403 for 5 minutes by default);</li>
 *   <li>{@code server.shutdown=immediate}: stopping does not wait for requests in flight.</li>
 * </ul>
 */
public final class EurekaTestServer implements AutoCloseable {
    /** The eviction timer's period, part of every test's "dead instance vanishes" bound. */
    static final Duration EVICTION_INTERVAL = Duration.ofMillis(500);

    private final int port;
    private final String user;
    private final String password;
    private final TestCertificate certificate;
    private volatile ConfigurableApplicationContext context;

    private EurekaTestServer(int port, String user, String password, TestCertificate certificate) {
        this.port = port;
        this.user = user;
        this.password = password;
        this.certificate = certificate;
    }

    /**
     * Starts an open server.
     *
     * @param port a free port
     * @return the running server
     */
    public static EurekaTestServer start(int port) {
        EurekaTestServer server = new EurekaTestServer(port, null, null, null);
        server.start();
        return server;
    }

    /**
     * Starts a server secured as Spring's docs recommend: HTTPS only, and HTTP basic authentication (Spring
     * Security) on every request, CSRF off so that clients can POST.
     *
     * @param port a free port
     * @param user the user
     * @param password the password
     * @param certificate the server's TLS key and certificate
     * @return the running server
     */
    static EurekaTestServer startSecured(int port, String user, String password, TestCertificate certificate) {
        EurekaTestServer server = new EurekaTestServer(port, user, password, certificate);
        server.start();
        return server;
    }

    /** Starts the server (again, after {@link #stop()}: same port, empty registry). */
    synchronized void start() {
        if (context != null) {
            throw new IllegalStateException("already running");
        }
        Map<String, Object> props = new HashMap<>();
        props.put("server.address", "127.0.0.1");
        props.put("server.port", port);
        props.put("server.shutdown", "immediate");
        props.put("spring.application.name", "eureka-test-server");
        props.put("spring.main.banner-mode", "off");
        props.put("spring.jmx.enabled", "false");
        props.put("eureka.instance.hostname", "127.0.0.1");
        props.put("eureka.client.register-with-eureka", "false");
        props.put("eureka.client.fetch-registry", "false");
        props.put("eureka.client.service-url.defaultZone", "http://127.0.0.1:" + port + "/eureka/");
        props.put("eureka.server.use-read-only-response-cache", "false");
        props.put("eureka.server.response-cache-auto-expiration-in-seconds", "1");
        props.put("eureka.server.enable-self-preservation", "false");
        props.put("eureka.server.renewal-percent-threshold", "0");
        props.put("eureka.server.eviction-interval-timer-in-ms", EVICTION_INTERVAL.toMillis());
        props.put("eureka.server.wait-time-in-ms-when-sync-empty", "0");
        props.put("eureka.dashboard.enabled", "false");
        Class<?> config = OpenServer.class;
        if (user != null) {
            config = SecuredServer.class;
            props.put("spring.security.user.name", user);
            props.put("spring.security.user.password", password);
        }
        if (certificate != null) {
            props.put("server.ssl.key-store", certificate.keyStore().toUri().toString());
            props.put("server.ssl.key-store-type", "PKCS12");
            props.put("server.ssl.key-store-password", TestCertificate.STORE_PASSWORD);
            props.put("server.ssl.key-alias", TestCertificate.ALIAS);
        }
        context = new SpringApplicationBuilder(config)
                .properties(props)
                .registerShutdownHook(false)
                .logStartupInfo(false)
                .run();
        warmUp();
    }

    /**
     * Sends the first requests of each kind, which initialise the servlet, Jersey, Eureka's codecs and caches and
     * can take seconds on a loaded machine: tests with short request timeouts then meet a server that answers in
     * milliseconds.
     */
    private void warmUp() {
        Http.Builder builder = Http.builder(url()).maxConnections(1).timeout(Duration.ofSeconds(60))
                .header("Accept", "application/json").threadName("test-eureka-warm-up");
        if (user != null) {
            builder.header("Authorization", "Basic " + Base64.getEncoder().encodeToString(
                    (user + ":" + password).getBytes(StandardCharsets.UTF_8)));
        }
        try {
            if (certificate != null) {
                builder.sslContext(certificate.trustingContext());
            }
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException("no TLS context for the eureka test server", e);
        }
        try (Http client = builder.build()) {
            String instance = "{\"instance\":{\"instanceId\":\"warm-up\",\"hostName\":\"127.0.0.1\",\"app\":\"WARM-UP\","
                    + "\"ipAddr\":\"127.0.0.1\",\"status\":\"UP\",\"port\":{\"$\":1,\"@enabled\":\"true\"},"
                    + "\"dataCenterInfo\":{\"@class\":\"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo\","
                    + "\"name\":\"MyOwn\"}}}";
            warmUp(client, "POST", "apps/WARM-UP", instance, 204);
            warmUp(client, "PUT", "apps/WARM-UP/warm-up", "", 200);
            warmUp(client, "GET", "apps", "", 200);
            warmUp(client, "GET", "apps/delta", "", 200);
            warmUp(client, "GET", "apps/WARM-UP", "", 200);
            warmUp(client, "DELETE", "apps/WARM-UP/warm-up", "", 200);
        } catch (IOException e) {
            throw new IllegalStateException("eureka test server does not answer", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static void warmUp(Http client, String method, String path, String json, int expected)
            throws IOException, InterruptedException {
        int status = client.send(Http.Request.json(method, path, json)).status();
        if (status != expected) {
            throw new IllegalStateException("eureka test server answers " + method + " " + path + " with HTTP "
                    + status);
        }
    }

    /** Stops the server; the port is free afterwards. */
    synchronized void stop() {
        if (context != null) {
            context.close();
            context = null;
        }
    }

    @Override
    public void close() {
        stop();
    }

    /**
     * Returns the port the server listens on.
     *
     * @return the port
     */
    public int port() {
        return port;
    }

    /**
     * Returns the server's base URL, as clients configure it.
     *
     * @return {@code http://127.0.0.1:<port>/eureka}, {@code https://…} with TLS
     */
    public URI url() {
        return URI.create((certificate == null ? "http" : "https") + "://127.0.0.1:" + port + "/eureka");
    }

    /**
     * Tells whether a thread belongs to an in-JVM Eureka server (Tomcat, Spring, the Eureka server's timers and
     * its internal peer-replication client), never to the client under test.
     *
     * @param thread a live thread
     * @return true for the server's own threads
     */
    static boolean isServerThread(Thread thread) {
        String n = thread.getName();
        return n.startsWith("http-nio-127.0.0.1-") // Tomcat acceptor, poller and request workers
                || n.startsWith("Catalina-utility-") || n.startsWith("container-") // Tomcat housekeeping
                || n.startsWith("Eureka-") // Eureka server timers: EvictionTimer, CacheFillTimer, PeerNodesUpdater..
                || n.startsWith("ReplicaAwareInstanceRegistry") // renewal-threshold updater
                || n.startsWith("spectator-gauge-polling-") // Netflix Spectator metrics, a JVM-wide static
                || n.equals("spring.cloud.inetutils"); // Spring Cloud host-address lookup
    }

    /** The open server: Eureka, with a security chain that lets everything through. */
    @Configuration(proxyBeanMethods = false)
    @EnableAutoConfiguration(exclude = UserDetailsServiceAutoConfiguration.class)
    @EnableEurekaServer
    static class OpenServer {
        @Bean
        SecurityFilterChain openChain(HttpSecurity http) throws Exception {
            return http.csrf(csrf -> csrf.disable())
                    .authorizeHttpRequests(auth -> auth.anyRequest().permitAll())
                    .build();
        }
    }

    /** The secured server: every request needs HTTP basic authentication. */
    @Configuration(proxyBeanMethods = false)
    @EnableAutoConfiguration
    @EnableEurekaServer
    static class SecuredServer {
        @Bean
        SecurityFilterChain basicChain(HttpSecurity http) throws Exception {
            return http.csrf(csrf -> csrf.disable())
                    .authorizeHttpRequests(auth -> auth.anyRequest().authenticated())
                    .httpBasic(Customizer.withDefaults())
                    .build();
        }
    }
}
