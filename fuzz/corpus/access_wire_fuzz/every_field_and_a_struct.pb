
W
bobauditorssales-analystsemeaus"sales*
regionEU*
	clearancehigh2userreadC
customercustomer-360"email"segment"customer_id*product2p-1"
query_idq-7"
	operationSelectFromColumns*

reasonauditx