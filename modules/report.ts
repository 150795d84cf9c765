// socle.postgresql.report: see schemas/report.schema.yml. pgBadger and pgCluu reports of an
// instance, their collector and their schedule.
import { secretPaths, validate, type ReportOptions } from './generated/report';
import { runReport } from './lib/report/module';
import { main } from './lib/runtime';

main<ReportOptions>({ name: 'report', validate, secretPaths, run: runReport });
