// Time the managers' collections dashboard in headless Chromium, as a manager
// sees it: log in as admin/admin, then open the dashboard N times by URL (a
// whole page load) and N times from another screen of the running web client,
// each until the KPI cards and both charts are drawn; also time the one server
// call alone. Needs Debian's chromium and `npm i playwright-core`:
//
//   node friendly_dunning_bench/scripts/dashboard_load.js http://127.0.0.1:8069 [N] [screenshot.png]
const { chromium } = require('playwright-core');
(async () => {
  const base = process.argv[2], runs = +(process.argv[3] || 3), shot = process.argv[4];
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  await page.goto(base + '/web/login');
  await page.fill('input[name=login]', 'admin');
  await page.fill('input[name=password]', 'admin');
  await Promise.all([page.waitForURL(/\/odoo/), page.click('button[type=submit]')]);
  await page.waitForSelector('.o_main_navbar', { timeout: 60000 });
  const times = [], clicks = [];
  for (let i = 0; i < runs; i++) {
    const t0 = Date.now();
    await page.goto(base + '/odoo/action-friendly_dunning.action_dunning_dashboard');
    await page.waitForSelector('.o_dunning_kpis', { timeout: 60000 });
    await page.waitForFunction(() => document.querySelectorAll('.o_dunning_dashboard canvas').length >= 2);
    times.push(Date.now() - t0);
  }
  // As a manager opens it: from another screen of the running web client.
  for (let i = 0; i < runs; i++) {
    await page.evaluate(() => odoo.__WOWL_DEBUG__.root.env.services.action.doAction('account.action_move_out_invoice_type'));
    await page.waitForSelector('.o_list_view', { timeout: 60000 });
    await page.waitForSelector('.o_dunning_dashboard', { state: 'detached' });
    const t0 = Date.now();
    await page.evaluate(() => odoo.__WOWL_DEBUG__.root.env.services.action.doAction('friendly_dunning.action_dunning_dashboard'));
    await page.waitForSelector('.o_dunning_kpis', { timeout: 60000 });
    await page.waitForFunction(() => document.querySelectorAll('.o_dunning_dashboard canvas').length >= 2);
    clicks.push(Date.now() - t0);
  }
  // The server call alone, from the page.
  const rpc = await page.evaluate(async () => {
    const t0 = performance.now();
    const r = await fetch('/web/dataset/call_kw/dunning.kpi/get_dashboard', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'call', params: { model: 'dunning.kpi', method: 'get_dashboard', args: [], kwargs: { period_days: 30 } } }) });
    await r.json();
    return performance.now() - t0;
  });
  if (shot) await page.screenshot({ path: shot, fullPage: false });
  console.log(JSON.stringify({ page_load_ms: times, open_from_web_client_ms: clicks, get_dashboard_rpc_ms: Math.round(rpc) }));
  await browser.close();
})().catch(e => { console.error(e); process.exit(1); });
