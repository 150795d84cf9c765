// socle.postgresql.postgres_exporter: see schemas/postgres_exporter.schema.yml. An exporter for
// a server this host does not own (the instance module's `prometheus` does it for its own).
import { secretPaths, validate, type PostgresExporterOptions } from './generated/postgres_exporter';
import { runExporter } from './lib/components/prometheus/module';
import { main } from './lib/runtime';

main<PostgresExporterOptions>({ name: 'postgres_exporter', validate, secretPaths, run: runExporter });
