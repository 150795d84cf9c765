// Scheduled jobs without systemd: systemd calendar expressions translated to crontab fields, and
// the dump file names the retention and the `dumps` fact rely on.
import { calendarToCron } from '../../modules/lib/schedule';
import { dumpDate, namePart } from '../../modules/lib/components/dumps/site';

describe('calendarToCron', () => {
  test.each([
    ['daily', '0 0 * * *'],
    ['weekly', '0 0 * * 1'],
    ['hourly', '0 * * * *'],
    ['monthly', '0 0 1 * *'],
    ['*-*-* 02:30:00', '30 2 * * *'],
    ['*-*-* 02:30', '30 2 * * *'],
    ['Sun *-*-* 01:00:00', '0 1 * * 0'],
    ['Mon..Sat *-*-* 01:00:00', '0 1 * * 1-6'],
    ['Mon,Wed,Fri 22:15', '15 22 * * 1,3,5'],
    ['*-*-01 03:00', '0 3 1 * *'],
    ['*-01,07-01 00:00', '0 0 1 1,7 *'],
    ['*-*-* *:0/15:00', '0-59/15 * * * *'],
    ['*-*-* *:*/10', '*/10 * * * *'],
    ['*-*-* 08..18:00', '0 8-18 * * *'],
  ])('%s -> %s', (expr, cron) => expect(calendarToCron(expr)).toBe(cron));

  test.each([
    ['*-*-* 03:00:30', /seconds must be 00/],
    ['2027-*-* 03:00', /years/],
    ['*-*-* 03:00 Europe/Paris', /time zones/],
    ['Funday 03:00', /day of the week/],
    ['*-*-* 25:00', /bad hours/],
    ['*-13-01 00:00', /bad month/],
  ])('%s is refused', (expr, why) => expect(() => calendarToCron(expr)).toThrow(why));
});

describe('dump names', () => {
  test('dates sort as they read, with no character a file name or a shell minds', () => {
    const a = dumpDate(new Date('2026-11-30T06:15:12.345Z'));
    expect(a).toBe('2026-11-30T061512.345Z');
    expect(dumpDate(new Date('2026-11-30T06:15:12.346Z')) > a).toBe(true);
  });

  test('job name parts: plain names kept, others digested', () => {
    expect(namePart('app_1.x')).toBe('app_1.x');
    expect(namePart("Robert'); DROP")).toMatch(/^x[0-9a-f]{16}$/);
    expect(namePart('a-b')).not.toBe(namePart('a_b'));
  });
});
