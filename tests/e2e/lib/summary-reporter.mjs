// The last line every e2e script prints: "N passed, M failed" (skipped tests named too), counted
// over leaf tests only, so a suite and its cases are not counted twice.
export default async function* summaryReporter(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = [];
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    if (event.data.details?.type === 'suite') continue;
    if (event.data.skip || event.data.todo) {
      skipped += 1;
    } else if (event.type === 'test:pass') {
      passed += 1;
    } else {
      failed += 1;
      failures.push(event.data.name);
    }
  }
  if (failures.length > 0) yield `\nFailed: ${failures.map((name) => `"${name}"`).join(', ')}\n`;
  yield `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`;
}
