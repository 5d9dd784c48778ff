select * from {{ ref('sales_eph') }}
