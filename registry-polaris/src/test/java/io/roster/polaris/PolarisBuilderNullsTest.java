package io.roster.polaris;

import io.roster.testkit.NullArguments;
import org.junit.jupiter.api.Test;

class PolarisBuilderNullsTest {

    @Test
    void everyNullBuilderArgumentIsRefusedNamingTheOption() {
        NullArguments.assertRefusedByEverySetter(PolarisRegistry::builder);
    }
}
