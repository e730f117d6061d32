import { Component, onMounted, onWillStart, onWillUnmount, useRef, useState } from "@odoo/owl";
import { loadBundle } from "@web/core/assets";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { formatFloat } from "@web/core/utils/numbers";
import { useService } from "@web/core/utils/hooks";
import { formatMonetary } from "@web/views/fields/formatters";

const BUCKET_COLORS = ["#3c9d5d", "#e8b33a", "#e58a2e", "#d9603b", "#b8333a"];

/**
 * The managers' collections dashboard: one server call returns everything
 * (dunning.kpi.get_dashboard); charts are drawn with Odoo's bundled Chart.js.
 */
export class DunningDashboard extends Component {
    static template = "friendly_dunning.DunningDashboard";
    static props = ["*"];

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.state = useState({ data: null, periodDays: 30, loading: true });
        this.trendRef = useRef("trend");
        this.agingRef = useRef("aging");
        this.cashRef = useRef("cash");
        this.charts = [];
        this.periods = [
            { days: 30, label: _t("Last 30 days") },
            { days: 90, label: _t("Last 90 days") },
            { days: 365, label: _t("Last 12 months") },
        ];
        onWillStart(async () => {
            await Promise.all([loadBundle("web.chartjs_lib"), this.load()]);
        });
        onMounted(() => this.renderCharts());
        onWillUnmount(() => this.destroyCharts());
    }

    async load() {
        this.state.loading = true;
        this.state.data = await this.orm.call("dunning.kpi", "get_dashboard", [], {
            period_days: this.state.periodDays,
        });
        this.state.loading = false;
    }

    async selectPeriod(days) {
        this.state.periodDays = days;
        await this.load();
        this.renderCharts();
    }

    destroyCharts() {
        for (const chart of this.charts) {
            chart.destroy();
        }
        this.charts = [];
    }

    renderCharts() {
        this.destroyCharts();
        const data = this.state.data;
        if (!data || !this.trendRef.el) {
            return;
        }
        this.charts.push(
            new Chart(this.trendRef.el, {
                type: "line",
                data: {
                    labels: data.trend.labels,
                    datasets: [
                        {
                            label: _t("DSO (days)"),
                            data: data.trend.dso,
                            borderColor: "#714b67",
                            backgroundColor: "#714b67",
                            yAxisID: "days",
                            tension: 0.3,
                        },
                        {
                            label: _t("CEI (%)"),
                            data: data.trend.cei,
                            borderColor: "#017e84",
                            backgroundColor: "#017e84",
                            yAxisID: "percent",
                            tension: 0.3,
                        },
                    ],
                },
                options: {
                    maintainAspectRatio: false,
                    animation: false,
                    scales: {
                        days: { position: "left", beginAtZero: true },
                        percent: {
                            position: "right",
                            beginAtZero: true,
                            grid: { drawOnChartArea: false },
                        },
                    },
                },
            })
        );
        this.charts.push(
            new Chart(this.agingRef.el, {
                type: "bar",
                data: {
                    labels: data.aging.map((bucket) => bucket.label),
                    datasets: [
                        {
                            label: _t("Open amount"),
                            data: data.aging.map((bucket) => bucket.amount),
                            backgroundColor: BUCKET_COLORS,
                        },
                    ],
                },
                options: {
                    maintainAspectRatio: false,
                    animation: false,
                    plugins: {
                        legend: { display: false },
                        tooltip: {
                            callbacks: { label: (item) => this.money(item.raw) },
                        },
                    },
                    onClick: () => this.openAging(),
                },
            })
        );
        this.renderCashChart();
    }

    renderCashChart() {
        const cash = this.state.data.cash;
        if (!this.cashRef.el || !cash.labels.length) {
            return;
        }
        this.charts.push(
            new Chart(this.cashRef.el, {
                type: "bar",
                data: {
                    labels: cash.labels,
                    datasets: [
                        {
                            type: "line",
                            label: _t("High"),
                            data: cash.high,
                            borderColor: "#9fb8c8",
                            borderDash: [4, 4],
                            pointRadius: 0,
                            fill: false,
                        },
                        {
                            label: _t("Expected"),
                            data: cash.expected,
                            backgroundColor: "#017e84",
                        },
                        {
                            type: "line",
                            label: _t("Low"),
                            data: cash.low,
                            borderColor: "#9fb8c8",
                            borderDash: [4, 4],
                            pointRadius: 0,
                            fill: false,
                        },
                    ],
                },
                options: {
                    maintainAspectRatio: false,
                    animation: false,
                    scales: { y: { beginAtZero: true } },
                    plugins: {
                        tooltip: {
                            callbacks: {
                                label: (item) =>
                                    `${item.dataset.label}: ${this.money(item.raw)}`,
                            },
                        },
                    },
                },
            })
        );
    }

    money(value, compact = false) {
        return formatMonetary(value, {
            currencyId: this.state.data.currency_id,
            humanReadable: compact && Math.abs(value) >= 10000,
        });
    }

    format(value, kind) {
        if (value === null || value === undefined) {
            return "–";
        }
        switch (kind) {
            case "days":
                return _t("%s days", formatFloat(value, { digits: [0, 1] }));
            case "percent":
                return `${formatFloat(value * 100, { digits: [0, 1] })} %`;
            case "percent100":
                return `${formatFloat(value, { digits: [0, 1] })} %`;
            case "rating":
                return `${formatFloat(value, { digits: [0, 1] })} / 5`;
            default:
                return formatFloat(value, { digits: [0, 2] });
        }
    }

    percent(value) {
        return this.format(value, "percent");
    }

    trendClass(figure) {
        if (figure.change === null || figure.change === undefined || !figure.change) {
            return "text-muted";
        }
        const better = figure.better === "higher" ? figure.change > 0 : figure.change < 0;
        return better ? "text-success" : "text-danger";
    }

    trendArrow(figure) {
        if (figure.change === null || figure.change === undefined || !figure.change) {
            return "";
        }
        return figure.change > 0 ? "fa fa-caret-up" : "fa fa-caret-down";
    }

    openPartner(partnerId) {
        this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "res.partner",
            res_id: partnerId,
            views: [[false, "form"]],
        });
    }

    openAging() {
        this.action.doAction("friendly_dunning.action_dunning_report_aging");
    }

    openCash() {
        this.action.doAction("friendly_dunning.action_dunning_cash_forecast");
    }

    openChannels() {
        this.action.doAction("friendly_dunning.action_dunning_report_channel");
    }

    openDisputes() {
        this.action.doAction("friendly_dunning.action_dunning_dispute");
    }
}

registry.category("actions").add("friendly_dunning.dashboard", DunningDashboard);
