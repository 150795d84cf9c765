// Logical dumps as a component of the instance: the dump options themselves belong to the
// databases (the `database` module and the instance's `databases` list, see plan.ts); what the
// instance adds is the cleanup: dropping it removes the scheduled dumps of its databases (timers
// or crontab entries). The dump files are kept (they may be all that is left of it).
import type { InstanceComponent } from '../../instance/component';
import { installedJobs, jobFiles, scheduledJob } from '../../schedule';
import { dumpJobPrefix } from './site';

export const dumpsComponent: InstanceComponent = {
  name: 'dumps',
  declared: (c) => c.lifecycle === 'drop' && installedJobs(c.settings, dumpJobPrefix(c.layout)).length > 0,
  drop: (c) =>
    installedJobs(c.settings, dumpJobPrefix(c.layout)).map((name) => {
      const a = scheduledJob(c.settings, { name, description: '', onCalendar: 'daily', scriptText: '', ...jobFiles(c.settings, name) }).uninstall();
      return { change: `remove the scheduled dump ${name}`, commands: a.commands, apply: a.run };
    }),
};
