package io.roster.benchmarks.propagation;

import io.roster.testkit.ThreadLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Keeps the propagation harness from rotting without running it: one tiny run on a real etcd (every section the
 * backend has, two sizes, a few trials) must print its tables with figures and leave no process or thread behind.
 * The benchmark itself is run by hand (docs/benchmarks.md).
 */
class PropagationSmokeTest {

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aTinyEtcdRunPrintsEveryTableAndLeavesNothingRunning() throws Exception {
        ThreadLeaks.Snapshot threads = ThreadLeaks.snapshot();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream progress = new ByteArrayOutputStream();

        int code = Main.run(new String[] {"--only", "etcd", "--quick", "--trials", "3", "--warmup", "1",
                "--sizes", "10,100", "--keepalive-instances", "10", "--keepalive-window", "200ms"},
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(progress, true,
                        StandardCharsets.UTF_8));

        String report = out.toString(StandardCharsets.UTF_8);
        assertThat(code).as("exit code; progress:%n%s", progress.toString(StandardCharsets.UTF_8)).isZero();
        String ms = "[0-9.]+ / [0-9.]+ / [0-9.]+";
        assertThat(report)
                .contains("- Machine: ", "- Load average", "- Java: ", "- etcd: etcd ")
                .containsPattern("\\| etcd \\| 10 \\| register \\| " + ms + " \\| " + ms + " \\| [0-9.]+× \\| ")
                .containsPattern("\\| etcd \\| 100 \\| deregister \\| " + ms + " \\| " + ms + " \\| [0-9.]+× \\| ")
                .containsPattern("\\| etcd \\| deregister \\| Roster \\| [0-9.]+ \\| [0-9.]+ \\| [0-9.]+× ")
                .containsPattern("\\| etcd \\| Roster \\| 10 \\| leases: 1 \\| [0-9.]+ gRPC messages received \\|")
                .containsPattern("\\| etcd \\| raw \\| 10 \\| leases: 1 \\| [0-9.]+ gRPC messages received \\|")
                .contains("#### Issue 18 goals in this run")
                .doesNotContain("failed");
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
                assertThat(ProcessHandle.current().descendants().filter(ProcessHandle::isAlive)
                        .map(p -> p.info().commandLine().orElse("pid " + p.pid())))
                        .as("processes left running").isEmpty());
        threads.assertNoNewThreads(Duration.ofSeconds(30), PropagationSmokeTest::sharedByClientLibraries);
    }

    /** gRPC's shared executor keeps idle threads for a minute, by design, in any JVM that used it. */
    private static boolean sharedByClientLibraries(Thread thread) {
        return thread.getName().startsWith("grpc-default-executor-");
    }

    @Test
    void badCommandLinesAreRefusedWithTheUsage() {
        ByteArrayOutputStream progress = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(progress, true, StandardCharsets.UTF_8);
        PrintStream out = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);

        assertThat(Main.run(new String[] {"--only", "consul"}, out, err)).isEqualTo(2);
        assertThat(progress.toString(StandardCharsets.UTF_8)).contains("--only: unknown 'consul'", "Usage:");
        assertThatThrownBy(() -> Settings.parse("--trials", "0")).hasMessageContaining("--trials");
        assertThatThrownBy(() -> Settings.parse("--keepalive-window", "soon")).hasMessageContaining("duration");
        assertThatThrownBy(() -> Settings.parse("--trails", "5")).hasMessageContaining("unknown option --trails");
    }

    @Test
    void explicitOptionsWinOverQuickDefaultsInAnyOrder() {
        Settings s = Settings.parse("--trials", "7", "--quick", "--only", "zookeeper,etcd");

        assertThat(s.trials()).isEqualTo(7);
        assertThat(s.warmup()).isEqualTo(3);
        assertThat(s.sizes()).containsExactly(10, 1000);
        assertThat(s.backends()).containsExactly("etcd", "zookeeper");
        assertThat(Settings.parse().sizes()).containsExactly(10, 1000, 10000);
    }
}
