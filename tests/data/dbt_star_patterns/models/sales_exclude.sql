select * exclude (sold_at) from {{ ref('stg_sales') }}
