ˆ
Ñ
ÁapiVersion: datamesh/v1
kind: DataProduct
metadata: {name: orders, domain: sales, owner: sales-data-team, version: 1.2.0}
spec:
  description: Orders.
  classification: {type: source-aligned, tier: silver, pii: true}
  contracts: [orders-contract]
  outputPorts:
    - name: sql-access
      type: sql
      catalog: sales_analytics
      schema: orders
      tables:
        - name: orders
          columns:
            - {name: order_id, type: varchar}
            - {name: customer_id, type: varchar, pii: true}
            - {name: email, type: "varchar(255)", pii: true}
            - {name: amount, type: "decimal(10,2)"}
            - {name: birth_date, type: date, pii: true}
  slos:
    freshness: {target: 15m}
    availability: {target: 99.9%}
  governance:
    accessControl:
      - {role: sales-analysts, permissions: [read]}
      - {role: sales-data-team, permissions: [read, write, admin]}
      - {role: data-scientists, permissions: [read]}
orders.yamlupdate*
samsales-analysts"sales*
regioneu