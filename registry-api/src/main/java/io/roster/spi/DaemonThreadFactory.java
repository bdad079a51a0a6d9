package io.roster.spi;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Makes daemon threads named {@code roster-<backend>-<purpose>-<n>}, so that a thread dump says which registry
 * owns a thread and no registry thread keeps the JVM alive. A thread that dies of an uncaught exception is logged
 * at ERROR through SLF4J.
 */
public final class DaemonThreadFactory implements ThreadFactory {
    private static final Logger LOG = LoggerFactory.getLogger(DaemonThreadFactory.class);
    private final String prefix;
    private final AtomicInteger count = new AtomicInteger();

    /**
     * Creates a factory.
     *
     * @param name the name without the counter, such as {@code roster-etcd-keepalive}
     */
    public DaemonThreadFactory(String name) {
        this.prefix = name;
    }

    /**
     * Creates a single-threaded scheduler on a daemon thread; cancelled tasks are removed at once, so that
     * cancelled timeouts do not pile up.
     *
     * @param name the thread name without the counter, such as {@code roster-etcd-scheduler}
     * @return the scheduler; shut it down on close
     */
    public static ScheduledExecutorService scheduler(String name) {
        ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1, new DaemonThreadFactory(name));
        executor.setRemoveOnCancelPolicy(true);
        executor.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        return Executors.unconfigurableScheduledExecutorService(executor);
    }

    @Override
    public Thread newThread(Runnable task) {
        Thread thread = new Thread(task, prefix + "-" + count.incrementAndGet());
        thread.setDaemon(true);
        // Through SLF4J rather than System.err, so that an unexpected death of a registry thread is seen.
        thread.setUncaughtExceptionHandler((t, e) -> LOG.error("Thread {} died of an uncaught exception", t.getName(),
                Failures.redacted(e)));
        return thread;
    }
}
