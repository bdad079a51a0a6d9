package io.roster.testkit;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.fail;

/**
 * Checks that no thread started after a snapshot outlives the code under test.
 *
 * <pre>{@code
 * ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
 * try (Registry r = open()) { ... }
 * before.assertNoNewThreads(Duration.ofSeconds(10), t -> false);
 * }</pre>
 */
public final class ThreadLeaks {
    private ThreadLeaks() {
    }

    /**
     * Records the live threads.
     *
     * @return the snapshot
     */
    public static Snapshot snapshot() {
        return new Snapshot(Thread.getAllStackTraces().keySet());
    }

    /**
     * Tells Testcontainers' and docker-java's own threads, which may outlive a registry under test, from the rest.
     *
     * @param thread a live thread
     * @return true for a thread of the container harness
     */
    public static boolean isContainerHarness(Thread thread) {
        String n = thread.getName();
        return n.startsWith("testcontainers") || n.startsWith("ducttape") || n.startsWith("docker-java");
    }

    /** The threads alive at one moment. */
    public static final class Snapshot {
        private final Set<Thread> before;

        private Snapshot(Set<Thread> before) {
            this.before = before;
        }

        /**
         * Waits until every thread started since the snapshot has ended, except ignored ones and the JVM's and
         * the test framework's own. Runs the garbage collector while waiting, because some JDK threads (the
         * {@code HttpClient} selector on Java 17) end when their owner is collected.
         *
         * @param bound the longest wait
         * @param ignored threads to excuse (a server running in the test JVM)
         * @throws InterruptedException when interrupted
         */
        public void assertNoNewThreads(Duration bound, Predicate<Thread> ignored) throws InterruptedException {
            long deadline = System.nanoTime() + bound.toNanos();
            List<Thread> leaked;
            while (true) {
                leaked = Thread.getAllStackTraces().keySet().stream()
                        .filter(Thread::isAlive)
                        .filter(t -> !before.contains(t))
                        .filter(t -> !isJvmThread(t))
                        .filter(ignored.negate())
                        .collect(Collectors.toList());
                if (leaked.isEmpty()) {
                    return;
                }
                if (System.nanoTime() > deadline) {
                    break;
                }
                System.gc();
                Thread.sleep(50); // polling the thread table; there is no event to wait for
            }
            fail("threads still alive %s after close: %s", bound,
                    leaked.stream().map(Thread::getName).sorted().collect(Collectors.toList()));
        }

        private static boolean isJvmThread(Thread t) {
            String n = t.getName();
            return n.startsWith("ForkJoinPool.commonPool") || n.equals("process reaper")
                    || n.startsWith("awaitility") || n.equals("Common-Cleaner") || n.equals("Attach Listener")
                    || n.startsWith("junit-") || n.equals("surefire-forkedjvm-ping-30s")
                    || n.equals("surefire-forkedjvm-command-thread") || n.startsWith("RMI ")
                    || n.equals("Notification Thread") || n.equals("Signal Dispatcher");
        }
    }
}
