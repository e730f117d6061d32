import { Component, onWillStart, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { listView } from "@web/views/list/list_view";
import { ListRenderer } from "@web/views/list/list_renderer";

/**
 * The collections screens' notices (res.company.dunning_notices): automatic
 * sending off, the sandbox carrying messages nobody receives.
 */
export class DunningNotices extends Component {
    static template = "friendly_dunning.DunningNotices";
    static props = {};

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.state = useState({ notices: [] });
        onWillStart(async () => {
            this.state.notices = await this.orm.call("res.company", "dunning_notices", []);
        });
    }

    async open(notice) {
        await this.action.doAction(notice.action);
    }
}

export class DunningNoticeListRenderer extends ListRenderer {
    static template = "friendly_dunning.DunningNoticeListRenderer";
    static components = { ...ListRenderer.components, DunningNotices };
}

registry.category("views").add("dunning_notice_list", {
    ...listView,
    Renderer: DunningNoticeListRenderer,
});
