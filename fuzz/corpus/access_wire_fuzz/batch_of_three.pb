
›
)
anasales-analystsemea*
regionEUreadH)customer_analytics.customer_360.customers"customer_id"email"segment"
	operationSelectFromColumns
›
)
anasales-analystsemea*
regionEUreadH)customer_analytics.customer_360.customers"customer_id"email"segment"
	operationSelectFromColumns
›
)
anasales-analystsemea*
regionEUreadH)customer_analytics.customer_360.customers"customer_id"email"segment"
	operationSelectFromColumns