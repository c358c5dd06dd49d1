/**
 * ECharts with only what the app draws: bar and line charts on a grid, with tooltips,
 * rendered on canvas. Imported lazily by <BaseChart>, so pages without charts never load it.
 */
import { BarChart, LineChart } from 'echarts/charts'
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components'
import { init, use } from 'echarts/core'
import { CanvasRenderer } from 'echarts/renderers'

use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer])

export { init }
export type { EChartsCoreOption, EChartsType } from 'echarts/core'
