package org.apache.zookeeper;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Counts the watcher objects a ZooKeeper client holds, for leak tests. It lives in ZooKeeper's package because
 * the client's watch manager is package-private; test code only.
 */
public final class ClientWatches {
    private ClientWatches() {
    }

    /** The watcher objects registered with the client on paths under {@code prefix}, all kinds of watch together. */
    public static int count(ZooKeeper zk, String prefix) {
        ZKWatchManager manager = zk.getWatchManager();
        int count = 0;
        for (Map<String, Set<Watcher>> watches : List.of(manager.getDataWatches(), manager.getExistWatches(),
                manager.getChildWatches(), manager.getPersistentWatches(), manager.getPersistentRecursiveWatches())) {
            synchronized (watches) {
                count += watches.entrySet().stream().filter(e -> e.getKey().startsWith(prefix))
                        .mapToInt(e -> e.getValue().size()).sum();
            }
        }
        return count;
    }

    /** Describes the watches, for failure messages. */
    public static String describe(ZooKeeper zk) {
        ZKWatchManager manager = zk.getWatchManager();
        return "data=" + manager.getDataWatches() + " exist=" + manager.getExistWatches() + " child="
                + manager.getChildWatches() + " persistent=" + manager.getPersistentWatches() + " recursive="
                + manager.getPersistentRecursiveWatches();
    }
}
