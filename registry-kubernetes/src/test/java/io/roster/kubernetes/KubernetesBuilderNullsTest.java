package io.roster.kubernetes;

import io.roster.testkit.NullArguments;
import org.junit.jupiter.api.Test;

class KubernetesBuilderNullsTest {

    @Test
    void everyNullBuilderArgumentIsRefusedNamingTheOption() {
        NullArguments.assertRefusedByEverySetter(KubernetesRegistry::builder);
    }
}
