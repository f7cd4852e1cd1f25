

*
samsales-analysts"sales*
regioneuread<sales_analytics.orders.orders"order_id"email"
birth_date"
	operationSelectFromColumns